//! `#[table(name = "counts", key = String, value = u64, default = 0, partitions = 8)]` on a unit
//! struct: a changelog-backed table with a static `TableSpec`, the `Table` impl, `Deref` to the
//! typed handle and the registration.

use crate::attr::{self, split_entries, Errors, KeySet};
use crate::item;
use crate::rt;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, LitStr, Type};

/// Every key `#[table]` accepts.
pub(crate) const KEYS: &[&str] = &[
    "name",
    "key",
    "value",
    "default",
    "partitions",
    "tumbling",
    "hopping",
    "step",
    "sliding",
    "before",
    "after",
    "expires",
    "relative_to",
    "on_window_close",
    "kind",
];

/// A day, in ms: how long windows stay open after their end unless `expires` says.
const DEFAULT_EXPIRES_MS: i64 = 86_400_000;

const EXAMPLE: &str = "#[table(name = \"counts\", key = String, value = u64, default = 0)]";

#[derive(Default)]
struct Settings {
    name: Option<LitStr>,
    key: Option<Type>,
    value: Option<Type>,
    default: Option<Expr>,
    partitions: Option<u64>,
    tumbling: Option<(i64, Span)>,
    hopping: Option<(i64, Span)>,
    step: Option<(i64, Span)>,
    sliding: Option<(i64, Span)>,
    before: Option<(i64, Span)>,
    after: Option<(i64, Span)>,
    expires: Option<(i64, Span)>,
    /// `relative_to = "now"` (`true`) or `"stream"` (`false`), and where it was written.
    relative_to_now: Option<(bool, Span)>,
    on_window_close: Option<syn::Path>,
    /// `kind = "set"`: a set table (and where it was written).
    set: Option<Span>,
    /// `kind = "global"`: a global table (and where it was written).
    global: Option<Span>,
}

fn millis(nanos: u128) -> i64 {
    (nanos / 1_000_000).min(i64::MAX as u128) as i64
}

/// Expands `#[table(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let Some(strukt) = item::unit_struct(item.clone(), "#[table]", "struct Counts;", &errors)
    else {
        // The item as written and every mistake reported; nothing generated for it.
        parse_settings(attr, &errors);
        let errors = errors.into_compile_errors();
        return quote!(#item #errors);
    };
    let s = parse_settings(attr, &errors);
    let ident = &strukt.ident;
    let ident_str = ident.to_string();
    let name = match &s.name {
        Some(n) => n.value(),
        None => {
            errors.at(
                Span::call_site(),
                format!("#[table] needs `name`, the table's name (its changelog is `{{app_id}}-{{name}}-changelog`), e.g. {EXAMPLE}"),
            );
            ident_str.clone()
        }
    };
    let key_ty = type_or_error(&s.key, "key", "the type of its keys");
    let value_ty = type_or_error(&s.value, "value", "the type of its values");
    let default = match &s.default {
        Some(e) => quote_spanned!(e.span()=> { let __v: #value_ty = #e; __v }),
        None => quote!(<#value_ty as ::core::default::Default>::default()),
    };
    let partitions = match s.partitions {
        Some(n) => {
            let n = n as i32;
            quote!(::core::option::Option::Some(#n))
        }
        None => quote!(::core::option::Option::None),
    };
    if let Some(span) = s.set {
        return expand_set(
            &s, span, &strukt, name, key_ty, value_ty, partitions, errors,
        );
    }
    let window = window_spec(&s, &errors);
    if let (Some(at), Some(_)) = (s.global, &window) {
        errors.at(
            at,
            "windowed global tables are not supported; drop `kind = \"global\"` or the window",
        );
    }
    let mark_used = item::mark_used(&strukt);
    let strukt = item::with_handle_derives(&strukt);
    let (window_field, make, api, windowed_impl) = match &window {
        Some(spec) => {
            let close = s.on_window_close.as_ref().map(|f| {
                quote! {
                    fn __on_window_close(key: &Self::Key, window: (i64, i64), value: &Self::Value) {
                        #f(key, window, value)
                    }
                }
            });
            let relative = match s.relative_to_now {
                Some((true, _)) => quote! {
                    fn __relative_to() -> #rt::WindowTime {
                        #rt::WindowTime::Now
                    }
                },
                _ => quote!(),
            };
            (
                quote!(::core::option::Option::Some(#spec)),
                quote!(#rt::make_windowed_table::<#ident>),
                quote!(#rt::WindowedTableApi),
                quote! {
                    impl #rt::WindowedTable for #ident {
                        fn __window() -> #rt::WindowSpec {
                            #spec
                        }
                        #relative
                        #close
                    }
                },
            )
        }
        None if s.global.is_some() => (
            quote!(::core::option::Option::None),
            quote!(#rt::make_table::<#ident>),
            quote!(#rt::GlobalTableApi),
            quote!(),
        ),
        None => (
            quote!(::core::option::Option::None),
            quote!(#rt::make_table::<#ident>),
            quote!(#rt::TableApi),
            quote!(),
        ),
    };
    let kind = if s.global.is_some() && window.is_none() {
        quote!(#rt::TableKind::Global)
    } else {
        quote!(#rt::TableKind::Table)
    };
    let errors = errors.into_compile_errors();
    quote! {
        #strukt

        const _: () = {
            static __SPEC: #rt::TableSpec = #rt::TableSpec {
                name: #name,
                type_name: ::core::concat!(::core::module_path!(), "::", #ident_str),
                module: ::core::module_path!(),
                partitions: #partitions,
                __key_type: ::core::any::type_name::<<#ident as #rt::Table>::Key>,
                __value_type: ::core::any::type_name::<<#ident as #rt::Table>::Value>,
                window: #window_field,
                kind: #kind,
                __make: #make,
            };

            impl #rt::Table for #ident {
                type Key = #key_ty;
                type Value = #value_ty;

                fn __spec() -> &'static #rt::TableSpec {
                    &__SPEC
                }

                fn __default() -> Self::Value {
                    #default
                }
            }

            #windowed_impl

            impl ::core::ops::Deref for #ident {
                type Target = #api<#ident>;

                fn deref(&self) -> &Self::Target {
                    static API: #api<#ident> = #api::UNBOUND;
                    &API
                }
            }

            #mark_used

            #rt::inventory::submit! {
                #rt::TableRegistration(&__SPEC)
            }
        };

        #errors
    }
}

/// The expansion of `#[table(kind = "set", ..)]`: `value` is the member type; no default, no
/// windows.
#[allow(clippy::too_many_arguments)]
fn expand_set(
    s: &Settings,
    span: Span,
    strukt: &syn::ItemStruct,
    name: String,
    key_ty: TokenStream,
    member_ty: TokenStream,
    partitions: TokenStream,
    errors: Errors,
) -> TokenStream {
    if let Some(d) = &s.default {
        errors.spanned(
            d,
            "a set table has no `default`: a key never written has the empty set",
        );
    }
    for (k, v) in [
        ("tumbling", s.tumbling),
        ("hopping", s.hopping),
        ("step", s.step),
        ("sliding", s.sliding),
        ("before", s.before),
        ("after", s.after),
        ("expires", s.expires),
    ] {
        if let Some((_, at)) = v {
            errors.at(at, format!("`{k}`: windowed set tables are not supported; drop `kind = \"set\"` or the window"));
        }
    }
    if let Some(f) = &s.on_window_close {
        errors.spanned(
            f,
            "`on_window_close` is for windowed tables, not set tables",
        );
    }
    if let Some((_, at)) = s.relative_to_now {
        errors.at(at, "`relative_to` is for windowed tables, not set tables");
    }
    let _ = span;
    let ident = &strukt.ident;
    let ident_str = ident.to_string();
    let mark_used = item::mark_used(strukt);
    let strukt = item::with_handle_derives(strukt);
    let errors = errors.into_compile_errors();
    quote! {
        #strukt

        const _: () = {
            static __SPEC: #rt::TableSpec = #rt::TableSpec {
                name: #name,
                type_name: ::core::concat!(::core::module_path!(), "::", #ident_str),
                module: ::core::module_path!(),
                partitions: #partitions,
                __key_type: ::core::any::type_name::<<#ident as #rt::SetTable>::Key>,
                __value_type: ::core::any::type_name::<<#ident as #rt::SetTable>::Member>,
                window: ::core::option::Option::None,
                kind: #rt::TableKind::Set,
                __make: #rt::make_set_table::<#ident>,
            };

            impl #rt::SetTable for #ident {
                type Key = #key_ty;
                type Member = #member_ty;

                fn __spec() -> &'static #rt::TableSpec {
                    &__SPEC
                }
            }

            impl ::core::ops::Deref for #ident {
                type Target = #rt::SetTableApi<#ident>;

                fn deref(&self) -> &Self::Target {
                    static API: #rt::SetTableApi<#ident> = #rt::SetTableApi::UNBOUND;
                    &API
                }
            }

            #mark_used

            #rt::inventory::submit! {
                #rt::TableRegistration(&__SPEC)
            }
        };

        #errors
    }
}

fn type_or_error(ty: &Option<Type>, key: &str, what: &str) -> TokenStream {
    match ty {
        Some(t) => t.to_token_stream(),
        None => {
            let msg = format!("#[table] needs `{key}`, {what}, e.g. {EXAMPLE}");
            quote_spanned!(Span::call_site()=> ::core::compile_error!(#msg))
        }
    }
}

/// The `WindowSpec` expression of a windowed table, checking the window keys go together.
fn window_spec(s: &Settings, errors: &Errors) -> Option<TokenStream> {
    let expires = s.expires.map(|e| e.0).unwrap_or(DEFAULT_EXPIRES_MS);
    // The kinds of windows the keys ask for, each with the key that asked first.
    let sliding_key = [
        ("sliding", s.sliding),
        ("before", s.before),
        ("after", s.after),
    ]
    .into_iter()
    .find_map(|(k, v)| v.map(|(_, span)| (k, span)));
    let kinds: Vec<(&str, Span)> = [
        s.tumbling.map(|(_, span)| ("tumbling", span)),
        s.hopping.map(|(_, span)| ("hopping", span)),
        sliding_key,
    ]
    .into_iter()
    .flatten()
    .collect();
    if let [(first, _), rest @ ..] = kinds.as_slice() {
        for (k, span) in rest {
            errors.at(
                *span,
                format!("`{k}` and `{first}` do not go together: a table has one kind of windows (`tumbling`, `hopping` with `step`, or `sliding` / `before` and `after`)"),
            );
        }
        if !rest.is_empty() {
            return None;
        }
    }
    if s.tumbling.is_none() && s.hopping.is_none() && sliding_key.is_none() {
        for (k, v) in [("step", s.step), ("expires", s.expires)] {
            if let Some((_, span)) = v {
                errors.at(span, format!("`{k}` is a window setting: give the table `tumbling = ..`, `hopping = ..` or `sliding = ..` windows"));
            }
        }
        if let Some((_, span)) = s.relative_to_now {
            errors.at(span, "`relative_to` picks the windows of a windowed table: give the table `tumbling = ..`, `hopping = ..` or `sliding = ..` windows");
        }
        if let Some(f) = &s.on_window_close {
            errors.spanned(f, "`on_window_close` is for windowed tables: give the table `tumbling = ..`, `hopping = ..` or `sliding = ..` windows");
        }
        return None;
    }
    if let Some((size, _)) = s.tumbling {
        if let Some((_, span)) = s.step {
            errors.at(
                span,
                "`step` goes with `hopping`; tumbling windows step by their size",
            );
        }
        return Some(quote!(#rt::WindowSpec::tumbling(#size, #expires)));
    }
    if let Some((size, span)) = s.hopping {
        return match s.step {
            None => {
                errors.at(span, "`hopping` needs `step`, the time between window starts, e.g. `hopping = \"10s\", step = \"5s\"`");
                None
            }
            Some((step, sspan)) if step > size => {
                errors.at(
                    sspan,
                    "`step` must not be longer than the window (`hopping`)",
                );
                None
            }
            Some((step, _)) => Some(quote!(#rt::WindowSpec::hopping(#size, #step, #expires))),
        };
    }
    // Sliding windows.
    if let Some((_, span)) = s.step {
        errors.at(
            span,
            "`step` goes with `hopping`; a sliding window is placed around each event's time",
        );
    }
    let (before, after) = match s.sliding {
        Some((reach, _)) => {
            for (k, v) in [("before", s.before), ("after", s.after)] {
                if let Some((_, span)) = v {
                    errors.at(span, format!("`{k}` and `sliding` do not go together: `sliding = ..` reaches as far before each event as after it; for other reaches write `before = .., after = ..` without `sliding`"));
                }
            }
            (reach, reach)
        }
        None => {
            let (before, after) = (s.before.map_or(0, |b| b.0), s.after.map_or(0, |a| a.0));
            if before == 0 && after == 0 {
                let span = sliding_key.map_or_else(Span::call_site, |(_, span)| span);
                errors.at(span, "a sliding window needs `before` or `after` of at least a millisecond, e.g. `before = \"1m\"` (the minute up to each event) or `sliding = \"30s\"` (30 s on either side)");
                return None;
            }
            (before, after)
        }
    };
    Some(quote!(#rt::WindowSpec::sliding(#before, #after, #expires)))
}

fn parse_settings(attr: TokenStream, errors: &Errors) -> Settings {
    let mut s = Settings::default();
    let mut keys = KeySet::new("#[table]", KEYS);
    for e in split_entries(attr, errors) {
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
        if !keys.accept(key, errors) {
            continue;
        }
        match e.name().as_str() {
            "name" => s.name = attr::non_empty_string(errors, &e, "name = \"counts\""),
            "key" => s.key = e.parse(errors, "`key` expects a type, e.g. `key = String`"),
            "value" => s.value = e.parse(errors, "`value` expects a type, e.g. `value = u64`"),
            "default" => {
                s.default = e.parse(
                    errors,
                    "`default` expects an expression giving the value of a key never written, e.g. `default = 0`",
                )
            }
            "partitions" => s.partitions = attr::positive_int(errors, &e, i32::MAX as u64),
            "tumbling" => {
                s.tumbling = attr::duration(errors, &e, false).map(|n| (millis(n), key.span()))
            }
            "hopping" => {
                s.hopping = attr::duration(errors, &e, false).map(|n| (millis(n), key.span()))
            }
            "step" => s.step = attr::duration(errors, &e, false).map(|n| (millis(n), key.span())),
            "sliding" => {
                s.sliding = attr::duration(errors, &e, false).map(|n| (millis(n), key.span()))
            }
            "before" => {
                s.before = attr::duration(errors, &e, true).map(|n| (millis(n), key.span()))
            }
            "after" => {
                s.after = attr::duration(errors, &e, true).map(|n| (millis(n), key.span()))
            }
            "relative_to" => {
                if let Some(v) = attr::non_empty_string(errors, &e, "relative_to = \"now\"") {
                    match v.value().as_str() {
                        "now" => s.relative_to_now = Some((true, key.span())),
                        "stream" => s.relative_to_now = Some((false, key.span())),
                        "field" => errors.at(
                            v.span(),
                            "`relative_to = \"field\"`: a field's time is given per call, `Table.relative_to_field(value.placed_ms).update(..)`; the declaration takes `\"stream\"` (the event's time, the default) or `\"now\"` (the wall clock)",
                        ),
                        other => errors.at(
                            v.span(),
                            format!("unknown `relative_to = \"{other}\"`: `\"stream\"` (the event's time, the default) or `\"now\"` (the wall clock); a field's time is given per call with `Table.relative_to_field(..)`"),
                        ),
                    }
                }
            }
            "expires" => {
                s.expires = attr::duration(errors, &e, true).map(|n| (millis(n), key.span()))
            }
            "on_window_close" => {
                s.on_window_close = e.parse(
                    errors,
                    "`on_window_close` expects a function path, e.g. `on_window_close = report_window`",
                )
            }
            "kind" => {
                if let Some(k) = attr::non_empty_string(errors, &e, "kind = \"set\"") {
                    match k.value().as_str() {
                        "set" => s.set = Some(k.span()),
                        "global" => s.global = Some(k.span()),
                        "table" => {}
                        other => errors.at(
                            k.span(),
                            format!("unknown table kind `{other}`: `kind = \"set\"` (a set of members per key, Faust's SetTable), `kind = \"global\"` (every worker holds every partition, Faust's GlobalTable) or `kind = \"table\"` (the default)"),
                        ),
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
    fn unknown_repeated_and_missing_keys_are_all_reported() {
        let out = expand(
            quote!(key = String, key = String, colour = 1, partitions = 0),
            quote!(
                struct Counts;
            ),
        )
        .to_string();
        assert!(out.contains("unknown key `colour` for #[table]"), "{out}");
        assert!(out.contains("key `key` given twice"), "{out}");
        assert!(
            out.contains("`partitions` must be greater than zero"),
            "{out}"
        );
        assert!(out.contains("#[table] needs `name`"), "{out}");
        assert!(out.contains("#[table] needs `value`"), "{out}");
    }

    #[test]
    fn sliding_windows_and_relative_time_expand_to_their_spec() {
        let out = expand(
            quote!(
                name = "around",
                key = String,
                value = u64,
                before = "10s",
                after = "250ms",
                expires = "1m",
                relative_to = "now"
            ),
            quote!(
                struct Around;
            ),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(
            out.contains("WindowSpec :: sliding (10000i64 , 250i64 , 60000i64)"),
            "{out}"
        );
        assert!(out.contains("WindowTime :: Now"), "{out}");
        let out = expand(
            quote!(name = "s", key = String, value = u64, sliding = "5s"),
            quote!(
                struct S;
            ),
        )
        .to_string();
        assert!(
            out.contains("WindowSpec :: sliding (5000i64 , 5000i64 , 86400000i64)"),
            "{out}"
        );
        assert!(!out.contains("WindowTime :: Now"), "{out}");
    }

    #[test]
    fn a_full_declaration_expands_without_errors() {
        let out = expand(
            quote!(
                name = "counts",
                key = String,
                value = u64,
                default = 0,
                partitions = 4
            ),
            quote!(
                struct Counts;
            ),
        )
        .to_string();
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("name : \"counts\""), "{out}");
    }
}
