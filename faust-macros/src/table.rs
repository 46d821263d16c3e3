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
pub(crate) const KEYS: &[&str] = &["name", "key", "value", "default", "partitions"];

const EXAMPLE: &str = "#[table(name = \"counts\", key = String, value = u64, default = 0)]";

#[derive(Default)]
struct Settings {
    name: Option<LitStr>,
    key: Option<Type>,
    value: Option<Type>,
    default: Option<Expr>,
    partitions: Option<u64>,
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
    let mark_used = item::mark_used(&strukt);
    let strukt = item::with_handle_derives(&strukt);
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
                __make: #rt::make_table::<#ident>,
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

            impl ::core::ops::Deref for #ident {
                type Target = #rt::TableApi<#ident>;

                fn deref(&self) -> &Self::Target {
                    static API: #rt::TableApi<#ident> = #rt::TableApi::UNBOUND;
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
