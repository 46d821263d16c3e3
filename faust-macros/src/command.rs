//! `#[command]` on `async fn greet(app: App, args: Greet)`: a subcommand of the app's command
//! line (Faust's `@app.command`), its arguments parsed by clap into `Greet` (a `clap::Args`
//! type), registered for the generated `main`.

use crate::attr::{self, split_entries, Errors, KeySet};
use crate::item;
use crate::rt;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, LitStr, ReturnType, Type};

/// Every key `#[command]` accepts.
pub(crate) const KEYS: &[&str] = &["name"];

/// Expands `#[command(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let Some(func) = item::function(item.clone(), "#[command]", &errors) else {
        let errors = errors.into_compile_errors();
        return quote!(#item #errors);
    };
    let mut name: Option<LitStr> = None;
    let mut keys = KeySet::new("#[command]", KEYS);
    for e in split_entries(attr, &errors) {
        let Some(key) = &e.key else {
            errors.spanned(
                &e.value,
                format!(
                    "expected `key = value`, e.g. #[command(name = \"load-data\")]; valid keys: {}",
                    keys.list()
                ),
            );
            continue;
        };
        if !keys.accept(key, &errors) {
            continue;
        }
        match e.name().as_str() {
            "name" => {
                name = attr::non_empty_string(&errors, &e, "name = \"load-data\"");
                if let Some(n) = &name {
                    let v = n.value();
                    if v.starts_with('-')
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    {
                        errors.spanned(
                            n,
                            "a command name is letters, digits, `-` and `_`, not starting with `-`",
                        );
                    }
                }
            }
            other => unreachable!("key `{other}` is in KEYS but not handled"),
        }
    }
    let sig = &func.sig;
    let fn_ident = &sig.ident;
    let mut ok = item::plain_async_fn(sig, "#[command]", &errors);
    const SHAPE: &str = "a command takes the app and optionally its arguments: \
                         `async fn name(app: App)` or `async fn name(app: App, args: MyArgs)` \
                         with `#[derive(clap::Args)] struct MyArgs`";
    let typed: Vec<&syn::PatType> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            FnArg::Typed(t) => Some(t),
            FnArg::Receiver(_) => None,
        })
        .collect();
    if typed.is_empty() || typed.len() > 2 {
        let span = if typed.is_empty() {
            sig.paren_token.span.join()
        } else {
            sig.inputs.span()
        };
        errors.at(span, SHAPE);
        ok = false;
    }
    let args_ty: Option<&Type> = typed.get(1).map(|t| &*t.ty);
    if let Some(Type::ImplTrait(t)) = args_ty {
        errors.spanned(t, SHAPE);
        ok = false;
    }
    if !ok {
        let errors = errors.into_compile_errors();
        return quote! {
            #func
            const _: () = {
                let _ = #fn_ident;
            };
            #errors
        };
    }
    let app_ty = &typed[0].ty;
    let fn_str = fn_ident.unraw().to_string();
    let name = name
        .map(|n| n.value())
        .unwrap_or_else(|| fn_str.replace('_', "-"));
    let about = doc_text(&func.attrs);
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !matches!(**ty, Type::ImplTrait(_)) => ty.to_token_stream(),
        ReturnType::Type(..) => quote!(_),
        ReturnType::Default => quote!(()),
    };
    // The app argument's type is checked where the function is called, at the user's type.
    let app_arg = quote_spanned!(app_ty.span()=> { let app: #app_ty = app; app });
    let (augment, call) = match args_ty {
        Some(ty) => (
            quote_spanned!(ty.span()=> |cmd| <#ty as #rt::clap::Args>::augment_args(cmd)),
            quote_spanned!(ty.span()=> {
                let args = <#ty as #rt::clap::FromArgMatches>::from_arg_matches(matches)?;
                ::core::result::Result::Ok(#rt::command_future::<_, #ret_ty>(#fn_ident(#app_arg, args)))
            }),
        ),
        None => (
            quote!(|cmd| cmd),
            quote!({
                let _ = matches;
                ::core::result::Result::Ok(#rt::command_future::<_, #ret_ty>(#fn_ident(#app_arg)))
            }),
        ),
    };
    let errors = errors.into_compile_errors();
    quote! {
        #func

        const _: () = {
            #rt::inventory::submit! {
                #rt::CommandSpec {
                    name: #name,
                    about: #about,
                    module: ::core::module_path!(),
                    args: #augment,
                    run: |app, matches| #call,
                }
            }
        };

        #errors
    }
}

/// The first paragraph of the doc comment, on one line.
fn doc_text(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for a in attrs {
        if !a.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &a.meta {
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
            {
                lines.push(s.value().trim().to_string());
            }
        }
    }
    lines
        .into_iter()
        .take_while(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::expand;
    use quote::quote;

    #[test]
    fn registers_name_about_and_args() {
        let out = expand(
            quote!(),
            quote!(
                /// Loads the data.
                ///
                /// More text.
                async fn load_data(app: App, args: Load) -> Result<()> {
                    Ok(())
                }
            ),
        )
        .to_string();
        assert!(out.contains("name : \"load-data\""), "{out}");
        assert!(out.contains("about : \"Loads the data.\""), "{out}");
        assert!(out.contains("< Load as"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn shape_and_key_errors_are_reported() {
        let out = expand(
            quote!(nme = "x"),
            quote!(
                fn f() {}
            ),
        )
        .to_string();
        assert!(out.contains("unknown key"), "{out}");
        assert!(out.contains("must be `async fn`"), "{out}");
        assert!(out.contains("a command takes the app"), "{out}");
        let out = expand(
            quote!(name = "-x"),
            quote!(
                async fn f(app: App) {}
            ),
        )
        .to_string();
        assert!(out.contains("a command name is letters"), "{out}");
    }
}
