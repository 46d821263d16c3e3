//! `#[timer(interval = "5s")]` on `async fn tick()`: a static `TimerSpec` with the interval
//! parsed at compile time, and its registration.

use crate::attr::{self, duration_tokens, split_entries, Errors, KeySet};
use crate::item;
use crate::rt;
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::{LitStr, ReturnType, Type};

/// Every key `#[timer]` accepts.
pub(crate) const KEYS: &[&str] = &["interval", "name"];

#[derive(Default)]
struct Settings {
    interval: Option<u128>,
    interval_given: bool,
    name: Option<LitStr>,
}

/// Expands `#[timer(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let Some(func) = item::function(item.clone(), "#[timer]", &errors) else {
        let errors = errors.into_compile_errors();
        return quote!(#item #errors);
    };
    let settings = parse_settings(attr, &errors);
    let sig = &func.sig;
    let fn_ident = &sig.ident;

    let mut ok = item::plain_async_fn(sig, "#[timer]", &errors);
    let has_receiver = matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(_)));
    if !sig.inputs.is_empty() && !has_receiver {
        errors.spanned(
            &sig.inputs,
            "a timer takes no arguments: it is called on its own every interval",
        );
        ok = false;
    }
    if !settings.interval_given {
        errors.at(
            Span::call_site(),
            format!(
                "#[timer] needs `interval`, e.g. #[timer(interval = \"5s\")]; accepted forms: {}",
                attr::DURATION_FORMS
            ),
        );
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

    // With a missing or invalid interval (already reported) the registration is still emitted,
    // with a placeholder, so that a wrong return type is reported in the same build.
    let interval = duration_tokens(settings.interval.unwrap_or(1_000_000_000));
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !matches!(**ty, Type::ImplTrait(_)) => ty.to_token_stream(),
        ReturnType::Type(..) => quote!(_),
        ReturnType::Default => quote!(()),
    };
    let fn_str = fn_ident.unraw().to_string();
    let name = settings
        .name
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| fn_str.clone());

    let errors = errors.into_compile_errors();
    quote! {
        #func

        const _: () = {
            static __SPEC: #rt::TimerSpec = #rt::TimerSpec {
                name: #name,
                qualified: ::core::concat!(::core::module_path!(), "::", #fn_str),
                module: ::core::module_path!(),
                interval: #interval,
                run: || #rt::timer_future::<_, #ret_ty>(#fn_ident()),
            };

            #rt::inventory::submit! {
                #rt::Registration::Timer(&__SPEC)
            }
        };

        #errors
    }
}

fn parse_settings(attr: TokenStream, errors: &Errors) -> Settings {
    let mut s = Settings::default();
    let mut keys = KeySet::new("#[timer]", KEYS);
    for e in split_entries(attr, errors) {
        let Some(key) = &e.key else {
            errors.spanned(
                &e.value,
                format!(
                    "expected `key = value`, e.g. #[timer(interval = \"5s\")]; valid keys: {}",
                    keys.list()
                ),
            );
            continue;
        };
        if !keys.accept(key, errors) {
            continue;
        }
        match e.name().as_str() {
            "interval" => {
                s.interval_given = true;
                s.interval = attr::duration(errors, &e, false);
            }
            "name" => s.name = attr::non_empty_string(errors, &e, "name = \"heartbeat\""),
            other => unreachable!("key `{other}` is in KEYS but not handled"),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::expand;
    use quote::quote;

    fn expand_interval(interval: proc_macro2::TokenStream) -> String {
        expand(
            quote!(interval = #interval),
            quote!(
                async fn tick() {}
            ),
        )
        .to_string()
    }

    #[test]
    fn intervals_in_every_form() {
        assert!(expand_interval(quote!("5s")).contains("from_secs (5u64)"));
        assert!(expand_interval(quote!("250ms")).contains("from_millis (250u64)"));
        assert!(expand_interval(quote!("1.5s")).contains("from_millis (1500u64)"));
        assert!(expand_interval(quote!("1m")).contains("from_secs (60u64)"));
        assert!(expand_interval(quote!(2)).contains("from_secs (2u64)"));
        assert!(expand_interval(quote!(0.5)).contains("from_millis (500u64)"));
    }

    #[test]
    fn bad_intervals() {
        assert!(expand_interval(quote!("0s")).contains("interval must be greater than zero"));
        assert!(expand_interval(quote!("soon")).contains("cannot read \\\"soon\\\" as a duration"));
        let missing = expand(
            quote!(name = "t"),
            quote!(
                async fn tick() {}
            ),
        )
        .to_string();
        assert!(missing.contains("#[timer] needs `interval`"));
    }

    #[test]
    fn arguments_are_refused() {
        let out = expand(
            quote!(interval = "1s"),
            quote!(
                async fn tick(n: u32) {}
            ),
        )
        .to_string();
        assert!(out.contains("a timer takes no arguments"));
        assert!(!out.contains("TimerSpec"));
    }
}
