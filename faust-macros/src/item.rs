//! What the macros require of the items they go on: a plain unit struct for `#[topic]` and
//! `#[channel]`, a plain `async fn` for `#[agent]` and `#[timer]`. Shape problems are reported at
//! the offending tokens.

use crate::attr::{derived_traits, Errors};
use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Fields, Item, ItemFn, ItemStruct, Signature};

/// The struct under `#[topic]`/`#[channel]` when it is a non-generic unit struct. Otherwise
/// records why (unless the tokens are not an item at all: the compiler reports those itself when
/// they are emitted back) and returns `None`.
pub(crate) fn unit_struct(
    item: TokenStream,
    macro_name: &str,
    example: &str,
    errors: &Errors,
) -> Option<ItemStruct> {
    let item = syn::parse2::<Item>(item).ok()?;
    let what = match &item {
        Item::Struct(s) => {
            let mut ok = true;
            match &s.fields {
                Fields::Unit => {}
                Fields::Named(f) if f.named.is_empty() => {
                    errors.at(
                        f.brace_token.span.join(),
                        format!(
                            "{macro_name} goes on a unit struct: write `{example}` without braces"
                        ),
                    );
                    ok = false;
                }
                Fields::Unnamed(f) if f.unnamed.is_empty() => {
                    errors.at(
                        f.paren_token.span.join(),
                        format!("{macro_name} goes on a unit struct: write `{example}` without parentheses"),
                    );
                    ok = false;
                }
                fields => {
                    errors.spanned(
                        fields,
                        format!(
                            "{macro_name} goes on a unit struct such as `{example}`: the handle holds no data; \
                             name the record type in `value = ...` instead"
                        ),
                    );
                    ok = false;
                }
            }
            if !s.generics.params.is_empty() || s.generics.where_clause.is_some() {
                errors.spanned(
                    &s.generics,
                    format!("{macro_name} goes on a struct without generic parameters"),
                );
                ok = false;
            }
            if ok {
                return Some(s.clone());
            }
            return None;
        }
        Item::Enum(e) => ("an enum", e.enum_token.span),
        Item::Union(u) => ("a union", u.union_token.span),
        Item::Fn(f) => ("a function", f.sig.fn_token.span),
        Item::Type(t) => ("a type alias", t.type_token.span),
        Item::Trait(t) => ("a trait", t.trait_token.span),
        other => ("this item", other.span()),
    };
    errors.at(
        what.1,
        format!(
            "{macro_name} goes on a unit struct such as `{example}`, not on {}",
            what.0
        ),
    );
    None
}

/// The name of a struct, enum or union without generic parameters that a `#[topic]` or
/// `#[channel]` was put on by mistake: the type that stub impls are given for (as clap_derive's
/// dummies), so that code naming it (`#[agent(Orders)]`, `Stream<Orders>`) gets no second error.
pub(crate) fn misplaced_handle(item: &TokenStream) -> Option<syn::Ident> {
    let (ident, generics) = match syn::parse2::<Item>(item.clone()).ok()? {
        Item::Struct(s) => (s.ident, s.generics),
        Item::Enum(e) => (e.ident, e.generics),
        Item::Union(u) => (u.ident, u.generics),
        _ => return None,
    };
    (generics.params.is_empty() && generics.where_clause.is_none()).then_some(ident)
}

/// The handle struct with `#[derive(Clone, Copy, Debug, Default)]` added for the traits it does
/// not already derive.
pub(crate) fn with_handle_derives(item: &ItemStruct) -> ItemStruct {
    let derived = derived_traits(&item.attrs);
    let missing: Vec<TokenStream> = [
        ("Clone", quote!(::core::clone::Clone)),
        ("Copy", quote!(::core::marker::Copy)),
        ("Debug", quote!(::core::fmt::Debug)),
        ("Default", quote!(::core::default::Default)),
    ]
    .into_iter()
    .filter(|(name, _)| !derived.iter().any(|d| d == name))
    .map(|(_, path)| path)
    .collect();
    let mut item = item.clone();
    if !missing.is_empty() {
        item.attrs.push(syn::parse_quote!(#[derive(#(#missing),*)]));
    }
    item
}

/// A use of the handle struct, for the generated const block, so that a handle that is declared
/// but never constructed (only named in `#[agent(..)]`) is not reported as dead code.
pub(crate) fn mark_used(item: &ItemStruct) -> TokenStream {
    let ident = &item.ident;
    quote!(let _ = #ident;)
}

/// The function under `#[agent]`/`#[timer]`, parsed, or `None` when the tokens are not a
/// function (recorded, unless they are not an item at all).
pub(crate) fn function(item: TokenStream, macro_name: &str, errors: &Errors) -> Option<ItemFn> {
    match syn::parse2::<Item>(item).ok()? {
        Item::Fn(f) => Some(f),
        other => {
            errors.at(other.span(), format!("{macro_name} goes on an `async fn`"));
            None
        }
    }
}

/// Checks that a signature is a plain `async fn`: not `const`, `unsafe`, `extern`, generic or
/// variadic, and not a method. Returns whether it is.
pub(crate) fn plain_async_fn(sig: &Signature, macro_name: &str, errors: &Errors) -> bool {
    let mut ok = true;
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token.span,
            format!("{macro_name} functions must be `async fn`"),
        );
        ok = false;
    }
    if let Some(c) = &sig.constness {
        errors.at(c.span, format!("{macro_name} functions cannot be `const`"));
        ok = false;
    }
    if let Some(u) = &sig.unsafety {
        errors.at(u.span, format!("{macro_name} functions cannot be `unsafe`"));
        ok = false;
    }
    if let Some(abi) = &sig.abi {
        errors.spanned(abi, format!("{macro_name} functions cannot be `extern`"));
        ok = false;
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            format!("{macro_name} functions cannot have generic parameters"),
        );
        ok = false;
    }
    if let Some(v) = &sig.variadic {
        errors.spanned(v, format!("{macro_name} functions cannot be variadic"));
        ok = false;
    }
    if let Some(syn::FnArg::Receiver(r)) = sig.inputs.first() {
        errors.spanned(
            r,
            format!("{macro_name} goes on a free function, not a method: remove `self`"),
        );
        ok = false;
    }
    ok
}
