//! `#[page("/path")]` on an `async fn` axum handler: a static `PageSpec` adding the route to the
//! worker's web server, and its registration.

use crate::attr::{self, split_entries, Errors, KeySet};
use crate::item;
use crate::rt;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ext::IdentExt;
use syn::LitStr;

/// Every named key `#[page]` accepts (the path comes first, unnamed).
pub(crate) const KEYS: &[&str] = &["method"];

/// The HTTP methods a page may answer.
const METHODS: &[&str] = &["get", "post", "put", "delete", "patch"];

/// Paths the web server serves itself.
const RESERVED: &[&str] = &[
    "/",
    "/metrics",
    "/health",
    "/ready",
    "/api/dashboard",
    "/api/topology",
    "/table",
    "/table/{name}",
    "/table/{name}/{key}",
];

struct Settings {
    path: Option<LitStr>,
    method: String,
}

/// Expands `#[page(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let Some(func) = item::function(item.clone(), "#[page]", &errors) else {
        let errors = errors.into_compile_errors();
        return quote!(#item #errors);
    };
    let settings = parse_settings(attr, &errors);
    let sig = &func.sig;
    let fn_ident = &sig.ident;
    let ok = item::plain_async_fn(sig, "#[page]", &errors);

    let Some(path) = settings.path.filter(|_| ok) else {
        let errors = errors.into_compile_errors();
        return quote! {
            #func
            const _: () = {
                let _ = #fn_ident;
            };
            #errors
        };
    };
    let method = syn::Ident::new(&settings.method, Span::call_site());
    let fn_str = fn_ident.unraw().to_string();
    let errors = errors.into_compile_errors();
    quote! {
        #func

        const _: () = {
            static __SPEC: #rt::web::PageSpec = #rt::web::PageSpec {
                path: #path,
                qualified: ::core::concat!(::core::module_path!(), "::", #fn_str),
                module: ::core::module_path!(),
                route: |router: #rt::web::Router<#rt::App>| {
                    router.route(#path, #rt::web::#method(#fn_ident))
                },
            };

            #rt::inventory::submit! {
                #rt::Registration::Page(&__SPEC)
            }
        };

        #errors
    }
}

/// Checks a route path; returns the problem, if any.
fn check_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some(format!("a page path starts with `/`, e.g. \"/{path}\""));
    }
    if RESERVED.contains(&path) {
        return Some(format!(
            "`{path}` is served by the worker itself (reserved: {}); choose another path",
            RESERVED.join(", ")
        ));
    }
    for segment in path.split('/').skip(1) {
        if segment.starts_with(':') || segment.starts_with('*') {
            return Some(format!(
                "`{segment}`: path parameters are written `{{name}}` (and `{{*rest}}`), e.g. \"/orders/{{id}}\""
            ));
        }
    }
    if path.len() > 1 && path.contains("//") {
        return Some("a page path has no empty segments (`//`)".into());
    }
    None
}

fn parse_settings(attr: TokenStream, errors: &Errors) -> Settings {
    let mut s = Settings {
        path: None,
        method: "get".into(),
    };
    let mut keys = KeySet::new("#[page]", KEYS);
    let mut path_seen = false;
    let entries = split_entries(attr, errors);
    if entries.iter().all(|e| e.key.is_some()) {
        errors.at(
            Span::call_site(),
            "#[page] needs the path first, e.g. #[page(\"/orders/count\")]",
        );
    }
    for (i, e) in entries.iter().enumerate() {
        let Some(key) = &e.key else {
            if path_seen || i > 0 {
                errors.spanned(
                    &e.value,
                    format!(
                        "only the path comes without a key, and first; valid keys: {}",
                        keys.list()
                    ),
                );
                continue;
            }
            path_seen = true;
            if let Some(lit) = attr::string(errors, e, "#[page(\"/orders/count\")]") {
                match check_path(&lit.value()) {
                    Some(problem) => errors.spanned(&lit, problem),
                    None => s.path = Some(lit),
                }
            }
            continue;
        };
        if !keys.accept(key, errors) {
            continue;
        }
        match e.name().as_str() {
            "method" => {
                if let Some((m, _)) = attr::choice(errors, e, METHODS) {
                    s.method = m;
                }
            }
            other => unreachable!("key `{other}` is in KEYS but not handled"),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::expand;
    use quote::quote;

    fn page(attr: proc_macro2::TokenStream) -> String {
        expand(
            attr,
            quote!(
                async fn hello() -> &'static str {
                    "hi"
                }
            ),
        )
        .to_string()
    }

    #[test]
    fn a_path_and_a_method() {
        let out = page(quote!("/hello/{name}", method = "post"));
        assert!(out.contains("PageSpec"), "{out}");
        assert!(out.contains(":: post (hello)"), "{out}");
        assert!(page(quote!("/hello")).contains(":: get (hello)"));
    }

    #[test]
    fn bad_paths_and_keys() {
        assert!(page(quote!("hello")).contains("starts with `/`"));
        assert!(page(quote!("/metrics")).contains("served by the worker itself"));
        assert!(page(quote!("/table/{name}/{key}")).contains("served by the worker itself"));
        assert!(page(quote!("/o/:id")).contains("written `{name}`"));
        assert!(page(quote!(method = "get")).contains("needs the path first"));
        assert!(page(quote!("/a", method = "fetch")).contains("fetch"));
        let twice = page(quote!("/a", methd = "get", "/b"));
        assert!(twice.contains("did you mean `method`"), "{twice}");
        assert!(
            twice.contains("only the path comes without a key"),
            "{twice}"
        );
        // The valid path is still registered beside the errors (no follow-up errors).
        assert!(twice.contains("compile_error"), "{twice}");
    }
}
