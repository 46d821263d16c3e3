//! `#[timer(interval = "5s")]` on `async fn tick()`, `#[crontab("*/5 * * * *")]` and `#[task]`:
//! a static `TimerSpec` (the interval parsed and the cron expression checked at compile time)
//! and its registration.

use crate::attr::{self, duration_tokens, split_entries, Errors, KeySet};
use crate::item;
use crate::rt;
use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use std::str::FromStr;
use syn::ext::IdentExt;
use syn::{LitStr, ReturnType, Type};

/// Every key `#[timer]` accepts.
pub(crate) const KEYS: &[&str] = &["interval", "name", "on_leader"];
/// Every key `#[crontab]` accepts (after the expression).
pub(crate) const CRONTAB_KEYS: &[&str] = &["timezone", "name", "on_leader"];
/// Every key `#[task]` accepts.
pub(crate) const TASK_KEYS: &[&str] = &["name", "on_leader"];

/// Which of the three attributes is expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Timer,
    Crontab,
    Task,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Timer => "#[timer]",
            Kind::Crontab => "#[crontab]",
            Kind::Task => "#[task]",
        }
    }
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Timer => KEYS,
            Kind::Crontab => CRONTAB_KEYS,
            Kind::Task => TASK_KEYS,
        }
    }
}

#[derive(Default)]
struct Settings {
    interval: Option<u128>,
    interval_given: bool,
    name: Option<LitStr>,
    on_leader: Option<bool>,
    /// The cron expression, once checked.
    cron: Option<LitStr>,
    cron_given: bool,
    timezone: Option<LitStr>,
}

/// Expands `#[timer(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand_kind(Kind::Timer, attr, item)
}

/// Expands `#[timer]`, `#[crontab]` or `#[task]`.
pub(crate) fn expand_kind(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let what = kind.attr();
    let errors = Errors::new();
    let Some(func) = item::function(item.clone(), what, &errors) else {
        let errors = errors.into_compile_errors();
        return quote!(#item #errors);
    };
    let settings = parse_settings(kind, attr, &errors);
    let sig = &func.sig;
    let fn_ident = &sig.ident;

    let mut ok = item::plain_async_fn(sig, what, &errors);
    let has_receiver = matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(_)));
    if !sig.inputs.is_empty() && !has_receiver {
        let msg = match kind {
            Kind::Timer => "a timer takes no arguments: it is called on its own every interval",
            Kind::Crontab => "a crontab job takes no arguments: it is called on its own at the times of its expression",
            Kind::Task => "a task takes no arguments: it is called once after the app has started",
        };
        errors.spanned(&sig.inputs, msg);
        ok = false;
    }
    if kind == Kind::Timer && !settings.interval_given {
        errors.at(
            Span::call_site(),
            format!(
                "#[timer] needs `interval`, e.g. #[timer(interval = \"5s\")]; accepted forms: {}",
                attr::DURATION_FORMS
            ),
        );
    }
    if kind == Kind::Crontab && !settings.cron_given {
        errors.at(
            Span::call_site(),
            "#[crontab] needs a cron expression first, e.g. #[crontab(\"*/5 * * * *\")] \
             (minute, hour, day of month, month, day of week)",
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
    let kind_tokens = match kind {
        Kind::Timer => quote!(#rt::TimerKind::Interval),
        Kind::Task => quote!(#rt::TimerKind::Task),
        Kind::Crontab => {
            let expr = settings
                .cron
                .as_ref()
                .map(LitStr::value)
                .unwrap_or_else(|| "* * * * *".to_string());
            let tz = match &settings.timezone {
                Some(t) => quote!(::core::option::Option::Some(#t)),
                None => quote!(::core::option::Option::None),
            };
            quote!(#rt::TimerKind::Crontab { expr: #expr, timezone: #tz })
        }
    };
    let on_leader = settings.on_leader.unwrap_or(false);
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
                kind: #kind_tokens,
                on_leader: #on_leader,
                run: || #rt::timer_future::<_, #ret_ty>(#fn_ident()),
            };

            #rt::inventory::submit! {
                #rt::Registration::Timer(&__SPEC)
            }
        };

        #errors
    }
}

fn parse_settings(kind: Kind, attr: TokenStream, errors: &Errors) -> Settings {
    let mut s = Settings::default();
    let what = kind.attr();
    let mut keys = KeySet::new(what, kind.keys());
    for (i, e) in split_entries(attr, errors).into_iter().enumerate() {
        let Some(key) = &e.key else {
            if kind == Kind::Crontab && i == 0 {
                s.cron_given = true;
                if let Some(lit) = attr::string(errors, &e, "#[crontab(\"*/5 * * * *\")]") {
                    match croner::Cron::from_str(&lit.value()) {
                        Ok(_) => s.cron = Some(lit),
                        Err(err) => errors.spanned(
                            &lit,
                            format!("invalid cron expression \"{}\": {err}", lit.value()),
                        ),
                    }
                }
                continue;
            }
            let example = match kind {
                Kind::Timer => "#[timer(interval = \"5s\")]",
                Kind::Crontab => "#[crontab(\"*/5 * * * *\", timezone = \"Europe/Paris\")]",
                Kind::Task => "#[task(on_leader = true)]",
            };
            errors.spanned(
                &e.value,
                format!(
                    "expected `key = value`, e.g. {example}; valid keys: {}",
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
            "on_leader" => s.on_leader = attr::boolean(errors, &e),
            "timezone" => {
                s.timezone = attr::non_empty_string(errors, &e, "timezone = \"Europe/Paris\"")
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

#[cfg(test)]
mod job_tests {
    use super::{expand_kind, Kind};
    use quote::quote;

    #[test]
    fn crontab_expressions_are_checked_when_compiling() {
        let good = expand_kind(
            Kind::Crontab,
            quote!("*/5 * * * *", timezone = "Europe/Paris", on_leader = true),
            quote!(
                async fn job() {}
            ),
        )
        .to_string();
        assert!(good.contains("TimerKind :: Crontab"), "{good}");
        assert!(good.contains("on_leader : true"), "{good}");
        assert!(!good.contains("compile_error"), "{good}");
        let bad = expand_kind(
            Kind::Crontab,
            quote!("*/5 * * *"),
            quote!(
                async fn job() {}
            ),
        )
        .to_string();
        assert!(bad.contains("invalid cron expression"), "{bad}");
        let missing = expand_kind(
            Kind::Crontab,
            quote!(timezone = "UTC"),
            quote!(
                async fn job() {}
            ),
        )
        .to_string();
        assert!(
            missing.contains("#[crontab] needs a cron expression"),
            "{missing}"
        );
    }

    #[test]
    fn tasks_take_no_interval() {
        let out = expand_kind(
            Kind::Task,
            quote!(interval = "1s"),
            quote!(
                async fn once() {}
            ),
        )
        .to_string();
        assert!(out.contains("unknown key `interval` for #[task]"), "{out}");
    }
}
