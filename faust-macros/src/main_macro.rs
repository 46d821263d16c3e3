//! `main!(id = "orders-app", broker = "memory://", ...)`: the program's `fn main`, which builds
//! the app from these settings (and the environment), runs the registered agents and timers of
//! the calling crate, and exits with the app's status.

use crate::attr::{self, duration_tokens, split_entries, Errors, KeySet};
use crate::rt;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::LitStr;

/// Every key `main!` accepts.
pub(crate) const KEYS: &[&str] = &[
    "id",
    "broker",
    "version",
    "topic_partitions",
    "commit_interval",
    "before_start",
    "after_stop",
];

const EXAMPLE: &str = "main!(id = \"orders-app\")";

/// Expands `main!(input)`.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let mut keys = KeySet::new("main!", KEYS);
    let mut id: Option<LitStr> = None;
    let mut id_given = false;
    let mut calls = TokenStream::new();
    let mut before_start = quote!(::core::option::Option::None);
    let mut after_stop = quote!(::core::option::Option::None);
    for e in split_entries(input, &errors) {
        let Some(key) = &e.key else {
            errors.spanned(
                &e.value,
                format!(
                    "expected `key = value`, e.g. {EXAMPLE}; valid keys: {}",
                    keys.list()
                ),
            );
            continue;
        };
        if !keys.accept(key, &errors) {
            continue;
        }
        match e.name().as_str() {
            "id" => {
                id_given = true;
                id = attr::non_empty_string(&errors, &e, "id = \"orders-app\"");
            }
            "broker" => {
                if let Some(b) =
                    attr::non_empty_string(&errors, &e, "broker = \"kafka://localhost:9092\"")
                {
                    calls.extend(quote!(.broker(#b)));
                }
            }
            "version" => {
                if let Some(v) = attr::positive_int(&errors, &e, u32::MAX as u64) {
                    let v = v as u32;
                    calls.extend(quote!(.version(#v)));
                }
            }
            "topic_partitions" => {
                if let Some(p) = attr::positive_int(&errors, &e, i32::MAX as u64) {
                    let p = p as i32;
                    calls.extend(quote!(.topic_partitions(#p)));
                }
            }
            "commit_interval" => {
                if let Some(n) = attr::duration(&errors, &e, false) {
                    let d = duration_tokens(n);
                    calls.extend(quote!(.commit_interval(#d)));
                }
            }
            "before_start" | "after_stop" => {
                let key = e.name();
                let hint = format!(
                    "`{key}` expects the path of an `async fn(app: App)`, e.g. `{key} = setup`"
                );
                if let Some(f) = e.parse::<syn::Path>(&errors, &hint) {
                    let hook = hook(&f);
                    if key == "before_start" {
                        before_start = hook;
                    } else {
                        after_stop = hook;
                    }
                }
            }
            other => unreachable!("key `{other}` is in KEYS but not handled"),
        }
    }
    if !id_given {
        errors.at(
            Span::call_site(),
            format!(
                "main! needs `id`, the app's name (also its Kafka consumer group), e.g. {EXAMPLE}"
            ),
        );
    }
    let id = id.map(|s| s.value()).unwrap_or_default();
    let errors = errors.into_compile_errors();
    quote! {
        fn main() -> ::std::process::ExitCode {
            #errors
            #rt::run_main(
                #id,
                ::core::module_path!(),
                |app: #rt::AppBuilder| app #calls,
                #rt::MainHooks {
                    before_start: #before_start,
                    after_stop: #after_stop,
                },
            )
        }
    }
}

/// `Some(|app| hook_future(f(app)))`, spanned at the user's path so that a function of the wrong
/// shape is reported there.
fn hook(f: &syn::Path) -> TokenStream {
    let call = quote::quote_spanned!(syn::spanned::Spanned::span(f)=> #f(app));
    quote!(::core::option::Option::Some(|app: #rt::App| #rt::hook_future(#call)))
}

#[cfg(test)]
mod tests {
    use super::expand;
    use quote::quote;

    #[test]
    fn builds_the_app_from_the_settings() {
        let out = expand(quote!(
            id = "a",
            broker = "memory://",
            version = 2,
            commit_interval = "2.8s"
        ))
        .to_string();
        assert!(out.contains("run_main (\"a\""));
        assert!(out.contains(". broker (\"memory://\") . version (2u32) . commit_interval (:: core :: time :: Duration :: from_millis (2800u64))"), "{out}");
        assert!(!out.contains("compile_error"));
    }

    #[test]
    fn hooks_are_passed_to_the_runtime() {
        let out = expand(quote!(
            id = "a",
            before_start = setup,
            after_stop = app::teardown
        ))
        .to_string();
        assert!(
            out.contains("before_start : :: core :: option :: Option :: Some (| app :"),
            "{out}"
        );
        assert!(out.contains("hook_future (setup (app))"), "{out}");
        assert!(out.contains("hook_future (app :: teardown (app))"), "{out}");
        assert!(!out.contains("compile_error"));
        let bad = expand(quote!(id = "a", before_start = "setup")).to_string();
        assert!(
            bad.contains("`before_start` expects the path of an `async fn(app: App)`"),
            "{bad}"
        );
    }

    #[test]
    fn id_is_required() {
        let out = expand(quote!(broker = "memory://")).to_string();
        assert!(out.contains("main! needs `id`"));
    }
}
