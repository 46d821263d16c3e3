//! `#[channel(value = Notification, maxsize = 1000)]` on a unit struct: an in-process queue with a
//! static `ChannelSpec`, the `Channel` impl, `Deref` to the typed handle and the registration.

use crate::attr::{self, split_entries, Errors, KeySet};
use crate::item;
use crate::rt;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::{LitStr, Type};

/// Every key `#[channel]` accepts.
pub(crate) const KEYS: &[&str] = &["name", "key", "value", "maxsize"];

/// Keys of `#[topic]` that mean nothing for an in-process channel.
const TOPIC_ONLY: &[&str] = &[
    "partitions",
    "retention",
    "key_serializer",
    "value_serializer",
    "acks",
    "replicas",
    "compacting",
    "deleting",
    "config",
    "root",
    "on_error",
    "dead_letter",
    "delivery_guarantee",
];

const EXAMPLE: &str = "#[channel(value = Notification)]";

#[derive(Default)]
struct Settings {
    name: Option<LitStr>,
    key: Option<Type>,
    value: Option<Type>,
    maxsize: Option<usize>,
}

/// Expands `#[channel(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let Some(strukt) =
        item::unit_struct(item.clone(), "#[channel]", "struct Notifications;", &errors)
    else {
        // As for #[topic]: the item as written, every mistake reported, stub impls for the type.
        let s = parse_settings(attr, &errors);
        let dummy = item::misplaced_handle(&item).map(|ident| dummy(&ident, &s));
        let errors = errors.into_compile_errors();
        return quote!(#item #dummy #errors);
    };
    let s = parse_settings(attr, &errors);
    let ident = &strukt.ident;
    let ident_str = ident.to_string();
    let name = s
        .name
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| ident_str.clone());

    let key_ty = s
        .key
        .as_ref()
        .map(ToTokens::to_token_stream)
        .unwrap_or_else(|| quote!(()));
    let value_ty = match &s.value {
        Some(v) => v.to_token_stream(),
        None => {
            let msg = format!(
                "#[channel] needs `value`, the type of the values it carries, e.g. {EXAMPLE}"
            );
            quote_spanned!(Span::call_site()=> ::core::compile_error!(#msg))
        }
    };
    let maxsize = s
        .maxsize
        .map(|m| quote!(maxsize: ::core::option::Option::Some(#m),));

    // `Channel` itself requires the key and value to be `Send + 'static`; the compiler reports a
    // type that is not at the user's type (the tokens of `type Value = ...` are the user's), once.
    let mark_used = item::mark_used(&strukt);
    let strukt = item::with_handle_derives(&strukt);

    let errors = errors.into_compile_errors();
    quote! {
        #strukt

        #[allow(clippy::needless_update)]
        const _: () = {
            static __SPEC: #rt::ChannelSpec = #rt::ChannelSpec {
                name: #name,
                type_name: ::core::concat!(::core::module_path!(), "::", #ident_str),
                module: ::core::module_path!(),
                // Through the impl's associated types: a missing or unknown type is reported
                // once, there.
                __key_type: ::core::any::type_name::<<#ident as #rt::Channel>::Key>,
                __value_type: ::core::any::type_name::<<#ident as #rt::Channel>::Value>,
                #maxsize
                ..#rt::ChannelSpec::DEFAULT
            };

            impl #rt::Channel for #ident {
                type Key = #key_ty;
                type Value = #value_ty;

                fn __source() -> #rt::SourceRef {
                    #rt::SourceRef::Channel(&__SPEC)
                }

                fn __subscribe(
                    ctx: &mut #rt::SubscribeCtx<'_>,
                    agent: &'static #rt::AgentSpec,
                    instances: usize,
                ) -> #rt::Result<::std::vec::Vec<#rt::Stream<Self>>> {
                    #rt::subscribe_channel::<Self>(ctx, agent, instances)
                }
            }

            impl ::core::ops::Deref for #ident {
                type Target = #rt::ChannelApi<#ident>;

                fn deref(&self) -> &Self::Target {
                    static API: #rt::ChannelApi<#ident> = #rt::ChannelApi::UNBOUND;
                    &API
                }
            }

            #mark_used

            #rt::inventory::submit! {
                #rt::Registration::Channel(&__SPEC)
            }
        };

        #errors
    }
}

/// Stub impls of `Channel` and `Deref` for a type the attribute could not make a handle of (the
/// error is already reported), so that agents and streams naming it add no errors of their own.
fn dummy(ident: &syn::Ident, s: &Settings) -> TokenStream {
    let key = s
        .key
        .as_ref()
        .map(ToTokens::to_token_stream)
        .unwrap_or_else(|| quote!(()));
    let value = s
        .value
        .as_ref()
        .map(ToTokens::to_token_stream)
        .unwrap_or_else(|| quote!(()));
    quote! {
        #[allow(unreachable_code, clippy::diverging_sub_expression)]
        const _: () = {
            impl #rt::Channel for #ident {
                type Key = #key;
                type Value = #value;

                fn __source() -> #rt::SourceRef {
                    ::core::unreachable!()
                }

                fn __subscribe(
                    _: &mut #rt::SubscribeCtx<'_>,
                    _: &'static #rt::AgentSpec,
                    _: usize,
                ) -> #rt::Result<::std::vec::Vec<#rt::Stream<Self>>> {
                    ::core::unreachable!()
                }
            }

            impl ::core::ops::Deref for #ident {
                type Target = #rt::ChannelApi<#ident>;

                fn deref(&self) -> &Self::Target {
                    static API: #rt::ChannelApi<#ident> = #rt::ChannelApi::UNBOUND;
                    &API
                }
            }
        };
    }
}

fn parse_settings(attr: TokenStream, errors: &Errors) -> Settings {
    let mut s = Settings::default();
    let mut keys = KeySet::new("#[channel]", KEYS);
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
        let name = e.name();
        if TOPIC_ONLY.contains(&name.as_str()) {
            errors.at(
                key.span(),
                format!(
                    "`{name}` is a topic setting; channels are in-process and take only: {}",
                    keys.list()
                ),
            );
            continue;
        }
        if !keys.accept(key, errors) {
            continue;
        }
        match name.as_str() {
            "name" => s.name = attr::non_empty_string(errors, &e, "name = \"notifications\""),
            "key" => s.key = e.parse(errors, "`key` expects a type, e.g. `key = String`"),
            "value" => {
                s.value = e.parse(
                    errors,
                    "`value` expects a type, e.g. `value = Notification`",
                )
            }
            "maxsize" => {
                s.maxsize = attr::positive_int(errors, &e, u32::MAX as u64).map(|n| n as usize)
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
    fn topic_settings_are_named_as_such() {
        let out = expand(
            quote!(value = Note, partitions = 4, colour = 1),
            quote!(
                struct Notes;
            ),
        )
        .to_string();
        assert!(out.contains(
            "`partitions` is a topic setting; channels are in-process and take only: name, key, value, maxsize"
        ));
        assert!(out.contains("unknown key `colour` for #[channel]"));
    }

    #[test]
    fn name_defaults_to_the_struct() {
        let out = expand(
            quote!(value = Note),
            quote!(
                struct Notes;
            ),
        )
        .to_string();
        assert!(out.contains("name : \"Notes\""), "{out}");
        assert!(!out.contains("compile_error"));
    }
}
