//! `#[agent(Orders, concurrency = 2)]` on `async fn process(stream: Stream<Orders>)`: a static
//! `AgentSpec` that subscribes the function to the topic or channel, and its registration.
//!
//! The function is kept exactly as written. The generated start function names the user's
//! argument and return types explicitly, so a stream of the wrong topic or an unsupported return
//! type is reported once, at those types, with the runtime's explanation.

use crate::attr::{self, split_entries, Errors, KeySet};
use crate::item;
use crate::rt;
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, LitStr, Path, ReturnType, Type};

/// The `key = value` settings of `#[agent]` (after the topic or channel).
pub(crate) const KEYS: &[&str] = &["name", "concurrency", "sink"];

#[derive(Default)]
struct Settings {
    handle: Option<Path>,
    /// A first argument was written (even if it did not parse).
    handle_given: bool,
    name: Option<LitStr>,
    concurrency: Option<usize>,
    /// `sink = [Totals, Alerts]`: where the agent sends (for the topology).
    sinks: Vec<Path>,
}

/// Expands `#[agent(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let Some(func) = item::function(item.clone(), "#[agent]", &errors) else {
        let errors = errors.into_compile_errors();
        return quote!(#item #errors);
    };
    let settings = parse_settings(attr, &errors);
    let sig = &func.sig;
    let fn_ident = &sig.ident;

    let mut ok = item::plain_async_fn(sig, "#[agent]", &errors);
    let arg_ty = stream_argument(sig, &errors);
    ok &= arg_ty.is_some();
    if !settings.handle_given {
        let example = arg_ty
            .and_then(stream_item_type)
            .unwrap_or_else(|| "MyTopic".to_string());
        errors.at(
            Span::call_site(),
            format!("missing the topic or channel: write #[agent({example})]"),
        );
        ok = false;
    }
    ok &= settings.handle.is_some();

    if !ok {
        // Keep the function (so calls to it resolve) and only add the errors.
        let errors = errors.into_compile_errors();
        return quote! {
            #func
            const _: () = {
                let _ = #fn_ident;
            };
            #errors
        };
    }

    let handle = settings.handle.as_ref().expect("checked above");
    let arg_ty = arg_ty.expect("checked above");
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !matches!(**ty, Type::ImplTrait(_)) => ty.to_token_stream(),
        ReturnType::Type(..) => quote!(_),
        ReturnType::Default => quote!(()),
    };
    let name = settings
        .name
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| fn_ident.unraw().to_string());
    let fn_str = fn_ident.unraw().to_string();
    let concurrency = settings.concurrency.unwrap_or(1);
    let source = quote::quote_spanned!(handle.span()=> <#handle as #rt::Channel>::__source);
    let sinks = settings.sinks.iter().map(|p| {
        quote::quote_spanned!(p.span()=> <#p as #rt::Channel>::__source as fn() -> #rt::SourceRef)
    });

    let errors = errors.into_compile_errors();
    quote! {
        #func

        #[allow(clippy::result_large_err)]
        const _: () = {
            static __SPEC: #rt::AgentSpec = #rt::AgentSpec {
                name: #name,
                qualified: ::core::concat!(::core::module_path!(), "::", #fn_str),
                module: ::core::module_path!(),
                concurrency: #concurrency,
                source: #source,
                sinks: &[#(#sinks),*],
                start: |ctx| {
                    #rt::start_agent::<#handle, #arg_ty, _, _, #ret_ty>(
                        ctx,
                        &__SPEC,
                        #fn_ident,
                    )
                },
            };

            #rt::inventory::submit! {
                #rt::Registration::Agent(&__SPEC)
            }
        };

        #errors
    }
}

/// The type of the single stream argument, or `None` (recorded) when there is not exactly one.
fn stream_argument<'a>(sig: &'a syn::Signature, errors: &Errors) -> Option<&'a Type> {
    const ONE: &str =
        "an agent takes exactly one argument: the stream, e.g. `stream: Stream<Orders>`";
    let mut inputs = sig.inputs.iter();
    let first = match inputs.next() {
        None => {
            errors.at(sig.paren_token.span.join(), ONE);
            return None;
        }
        // A `self` receiver is reported by `plain_async_fn`.
        Some(FnArg::Receiver(_)) => return None,
        Some(FnArg::Typed(t)) => t,
    };
    let extra: Vec<&FnArg> = inputs.collect();
    if !extra.is_empty() {
        errors.spanned(
            quote!(#(#extra),*),
            "an agent takes exactly one argument, the stream: remove the others (read other \
             topics and channels from inside the agent, or declare another agent)",
        );
        return None;
    }
    if let Type::ImplTrait(_) = &*first.ty {
        errors.spanned(
            &first.ty,
            "the stream argument needs a concrete type: `Stream<Orders>` or `Events<Orders>`",
        );
        return None;
    }
    Some(&first.ty)
}

/// `Orders` from `Stream<Orders>` or `Events<Orders>`, to suggest `#[agent(Orders)]`.
fn stream_item_type(ty: &Type) -> Option<String> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(attr::type_string(t)),
        _ => None,
    }
}

fn parse_settings(attr: TokenStream, errors: &Errors) -> Settings {
    let mut s = Settings::default();
    let mut keys = KeySet::new("#[agent]", KEYS);
    for e in split_entries(attr, errors) {
        let Some(key) = &e.key else {
            if s.handle_given {
                errors.spanned(
                    &e.value,
                    format!(
                        "#[agent] reads one topic or channel; after it come `key = value` \
                         settings: {}",
                        keys.list()
                    ),
                );
                continue;
            }
            // A lone key such as `#[agent(concurrency)]` is a setting missing its value.
            if let Ok(ident) = syn::parse2::<syn::Ident>(e.value.clone()) {
                let n = ident.unraw().to_string();
                if KEYS.contains(&n.as_str()) {
                    errors.at(ident.span(), format!("`{n}` needs a value: `{n} = ...`"));
                    continue;
                }
            }
            s.handle_given = true;
            s.handle = e.parse(
                errors,
                "the first argument of #[agent] is the topic or channel it reads, e.g. #[agent(Orders)]",
            );
            continue;
        };
        if !keys.accept(key, errors) {
            continue;
        }
        match e.name().as_str() {
            "name" => s.name = attr::non_empty_string(errors, &e, "name = \"process_orders\""),
            "concurrency" => {
                s.concurrency = attr::positive_int(errors, &e, u32::MAX as u64).map(|n| n as usize)
            }
            "sink" => {
                const HINT: &str = "`sink` expects a list of the topics and channels the agent sends to, e.g. `sink = [Totals, Alerts]`";
                if let Some(array) = e.parse::<syn::ExprArray>(errors, HINT) {
                    for elem in &array.elems {
                        match elem {
                            syn::Expr::Path(p) if p.qself.is_none() => s.sinks.push(p.path.clone()),
                            other => errors.spanned(other, HINT),
                        }
                    }
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

    #[test]
    fn missing_handle_suggests_the_streams_type() {
        let out = expand(
            quote!(concurrency = 2),
            quote!(
                async fn f(s: Stream<Orders>) {}
            ),
        )
        .to_string();
        assert!(
            out.contains("missing the topic or channel: write #[agent(Orders)]"),
            "{out}"
        );
        assert!(!out.contains("AgentSpec"));
    }

    #[test]
    fn shape_errors_are_all_reported() {
        let out = expand(
            quote!(Orders, concurrency = 0),
            quote!(
                fn f() {}
            ),
        )
        .to_string();
        assert!(out.contains("#[agent] functions must be `async fn`"));
        assert!(out.contains("an agent takes exactly one argument"));
        assert!(out.contains("`concurrency` must be greater than zero"));
    }

    #[test]
    fn registration_names_the_types() {
        let out = expand(
            quote!(Orders, name = "x", concurrency = 3),
            quote!(
                async fn f(s: Events<Orders>) -> Result<()> {
                    Ok(())
                }
            ),
        )
        .to_string();
        assert!(
            out.contains("start_agent :: < Orders , Events < Orders > , _ , _ , Result < () > >"),
            "{out}"
        );
        assert!(out.contains("concurrency : 3usize"));
        assert!(!out.contains("compile_error"));
    }

    #[test]
    fn sinks_become_source_functions() {
        let out = expand(
            quote!(Orders, sink = [Totals, app::Alerts]),
            quote!(
                async fn f(s: Stream<Orders>) {}
            ),
        )
        .to_string();
        assert!(out.contains("sinks : & [< Totals as"), "{out}");
        assert!(out.contains("< app :: Alerts as"), "{out}");
        let bad = expand(
            quote!(Orders, sink = ["totals"]),
            quote!(
                async fn f(s: Stream<Orders>) {}
            ),
        )
        .to_string();
        assert!(
            bad.contains("`sink` expects a list of the topics and channels"),
            "{bad}"
        );
    }
}
