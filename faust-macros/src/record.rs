//! `#[record(namespace = "app.Order")]` on a struct with named fields: serde's `Serialize` and
//! `Deserialize` written so that the JSON is Faust's Record JSON (fields in declaration order, then
//! `"__faust":{"ns":..}`), plus the runtime's `Record` trait.
//!
//! The struct's `#[serde(..)]` attributes (container and field) move to a hidden copy of the
//! struct that derives serde's traits in `remote` mode, so every serde attribute works as with a
//! plain derive; `Serialize`/`Deserialize` in the struct's own `#[derive(..)]` are taken over.
//!
//! `#[record]` on an enum whose variants each hold one record type (`Order(Order)`) makes a
//! polymorphic record: each variant encodes as its record, with its namespace, and decoding picks
//! the variant by `__faust.ns`; one variant may be `#[record(other)]`, for every other namespace.

use crate::attr::{self, split_entries, Errors, KeySet};
use crate::rt;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Fields, GenericParam, Item, ItemEnum, ItemStruct, LitStr, Path, Token};

/// Every key `#[record]` accepts.
pub(crate) const KEYS: &[&str] = &["namespace", "include_metadata"];

const EXAMPLE: &str = "#[record(namespace = \"app.Order\")] struct Order { id: u64 }";

const ENUM_EXAMPLE: &str = "#[record] enum Event { Order(Order), Refund(Refund) }";

#[derive(Default)]
struct Settings {
    namespace: Option<LitStr>,
    include_metadata: Option<bool>,
}

fn parse_settings(attr: TokenStream, errors: &Errors) -> Settings {
    let mut s = Settings::default();
    let mut keys = KeySet::new("#[record]", KEYS);
    for e in split_entries(attr, errors) {
        let Some(key) = &e.key else {
            errors.spanned(
                &e.value,
                format!("expected `key = value`; valid keys: {}", keys.list()),
            );
            continue;
        };
        if !keys.accept(key, errors) {
            continue;
        }
        match e.name().as_str() {
            "namespace" => {
                s.namespace = attr::non_empty_string(errors, &e, "namespace = \"app.Order\"")
            }
            "include_metadata" => s.include_metadata = attr::boolean(errors, &e),
            other => unreachable!("key `{other}` is in KEYS but not handled"),
        }
    }
    s
}

/// The struct under `#[record]` when it has named fields and no lifetime parameters.
fn record_struct(item: TokenStream, errors: &Errors) -> Option<ItemStruct> {
    let item = syn::parse2::<Item>(item).ok()?;
    let (what, span) = match item {
        Item::Struct(s) => match &s.fields {
            Fields::Named(_) => {
                if let Some(lt) = s.generics.lifetimes().next() {
                    errors.spanned(
                        lt,
                        "#[record] goes on a struct that owns its data: lifetime parameters are not supported",
                    );
                    return None;
                }
                return Some(s);
            }
            Fields::Unnamed(f) => ("a tuple struct", f.span()),
            Fields::Unit => ("a unit struct", s.ident.span()),
        },
        Item::Union(u) => ("a union", u.union_token.span),
        other => ("this item", other.span()),
    };
    errors.at(
        span,
        format!(
            "#[record] goes on a struct with named fields such as `{EXAMPLE}`, or on an enum of \
             record types such as `{ENUM_EXAMPLE}`, not on {what}"
        ),
    );
    None
}

/// Splits `attrs` into the `#[serde(..)]` ones (returned) and the rest (kept).
fn take_serde_attrs(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let (serde, rest): (Vec<_>, Vec<_>) = std::mem::take(attrs)
        .into_iter()
        .partition(|a| a.path().is_ident("serde"));
    *attrs = rest;
    serde
}

/// Removes `Serialize` and `Deserialize` from the struct's `#[derive(..)]`s.
fn drop_serde_derives(attrs: &mut Vec<Attribute>, errors: &Errors) {
    let mut out = Vec::with_capacity(attrs.len());
    for a in std::mem::take(attrs) {
        if !a.path().is_ident("derive") {
            out.push(a);
            continue;
        }
        let paths = match a.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated) {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                out.push(a);
                continue;
            }
        };
        let kept: Vec<&Path> = paths
            .iter()
            .filter(|p| {
                !p.segments
                    .last()
                    .is_some_and(|s| s.ident == "Serialize" || s.ident == "Deserialize")
            })
            .collect();
        if kept.len() == paths.len() {
            out.push(a);
        } else if !kept.is_empty() {
            let pound = a.pound_token;
            out.push(syn::parse_quote_spanned!(pound.span=> #[derive(#(#kept),*)]));
        }
    }
    *attrs = out;
}

/// Expands `#[record(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    if let Ok(Item::Enum(e)) = syn::parse2::<Item>(item.clone()) {
        return expand_enum(attr, e);
    }
    let errors = Errors::new();
    let settings = parse_settings(attr, &errors);
    let Some(mut strukt) = record_struct(item.clone(), &errors) else {
        let errors = errors.into_compile_errors();
        return quote!(#item #errors);
    };

    drop_serde_derives(&mut strukt.attrs, &errors);
    let container_attrs = take_serde_attrs(&mut strukt.attrs);
    let mut shadow_fields = Vec::new();
    if let Fields::Named(named) = &mut strukt.fields {
        for f in named.named.iter_mut() {
            let serde_attrs = take_serde_attrs(&mut f.attrs);
            let ident = &f.ident;
            let ty = &f.ty;
            shadow_fields.push(quote!(#(#serde_attrs)* #ident: #ty));
        }
    }

    let ident = &strukt.ident;
    let ident_str = ident.to_string();
    let remote = LitStr::new(&ident_str, ident.span());
    let shadow = format_ident!("__FaustRecord{}", ident);
    let (impl_generics, ty_generics, where_clause) = strukt.generics.split_for_impl();
    let shadow_generics = &strukt.generics;
    let shadow_where = &strukt.generics.where_clause;

    let type_params: Vec<_> = strukt
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(&t.ident),
            _ => None,
        })
        .collect();
    let serde = quote!(#rt::serde);
    let where_with = |bound: TokenStream| {
        let mut preds: Vec<TokenStream> = where_clause
            .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
            .unwrap_or_default();
        for t in &type_params {
            preds.push(quote!(#t: #bound));
        }
        if preds.is_empty() {
            quote!()
        } else {
            quote!(where #(#preds),*)
        }
    };
    let ser_where = where_with(quote!(#serde::Serialize));
    let de_where = where_with(quote!(#serde::Deserialize<'__de>));
    let record_where = where_with(quote!(#serde::Serialize + #serde::de::DeserializeOwned));

    let namespace = match &settings.namespace {
        Some(ns) => quote!(#ns),
        None => quote!({
            static __NS: ::std::sync::OnceLock<::std::string::String> = ::std::sync::OnceLock::new();
            __NS.get_or_init(|| {
                #rt::record::default_namespace(::core::module_path!(), #ident_str)
            })
            .as_str()
        }),
    };
    let include_metadata = settings.include_metadata.unwrap_or(true);
    let serialize_body = if include_metadata {
        quote!(<#shadow #ty_generics>::serialize(
            self,
            #rt::record::with_metadata(
                __serializer,
                __faust_namespace(),
            ),
        ))
    } else {
        quote!(<#shadow #ty_generics>::serialize(self, __serializer))
    };

    let mut de_generics = strukt.generics.clone();
    de_generics.params.insert(0, syn::parse_quote!('__de));
    let (de_impl_generics, _, _) = de_generics.split_for_impl();

    let errors = errors.into_compile_errors();
    let serde_crate = format!("{}::serde", crate::rt_string());
    quote! {
        #strukt

        const _: () = {
            #[derive(#serde::Serialize, #serde::Deserialize)]
            #[serde(crate = #serde_crate, remote = #remote)]
            #(#container_attrs)*
            #[allow(dead_code, non_camel_case_types)]
            struct #shadow #shadow_generics #shadow_where {
                #(#shadow_fields,)*
            }

            fn __faust_namespace() -> &'static str {
                #namespace
            }

            impl #impl_generics #rt::record::Record for #ident #ty_generics #record_where {
                fn namespace() -> &'static str {
                    __faust_namespace()
                }
                fn include_metadata() -> bool {
                    #include_metadata
                }
            }

            impl #impl_generics #serde::Serialize for #ident #ty_generics #ser_where {
                fn serialize<__S: #serde::Serializer>(
                    &self,
                    __serializer: __S,
                ) -> ::core::result::Result<__S::Ok, __S::Error> {
                    #serialize_body
                }
            }

            impl #de_impl_generics #serde::Deserialize<'__de> for #ident #ty_generics #de_where {
                fn deserialize<__D: #serde::Deserializer<'__de>>(
                    __deserializer: __D,
                ) -> ::core::result::Result<Self, __D::Error> {
                    <#shadow #ty_generics>::deserialize(
                        #rt::record::without_metadata(__deserializer),
                    )
                }
            }
        };

        #errors
    }
}

/// One variant of a polymorphic record enum.
struct Variant {
    ident: syn::Ident,
    ty: syn::Type,
}

/// Whether `attr` is `#[record(other)]`; reports any other `#[record(..)]` on a variant.
fn is_other(attr: &Attribute, errors: &Errors) -> bool {
    if !attr.path().is_ident("record") {
        return false;
    }
    match attr.parse_args::<syn::Ident>() {
        Ok(id) if id == "other" => true,
        _ => {
            errors.spanned(
                attr,
                "on a variant of a polymorphic record, only `#[record(other)]` is accepted \
                 (the variant that takes records of any other namespace)",
            );
            false
        }
    }
}

/// Expands `#[record] enum E { A(A), B(B) }`: a polymorphic record.
fn expand_enum(attr: TokenStream, mut item: ItemEnum) -> TokenStream {
    let errors = Errors::new();
    if !attr.is_empty() {
        errors.spanned(
            &attr,
            "#[record] on an enum takes no settings: each variant's record type has its own \
             `namespace` and metadata",
        );
    }
    if let Some(p) = item.generics.params.first() {
        errors.spanned(
            p,
            "a polymorphic record enum cannot have generic parameters",
        );
    }
    drop_serde_derives(&mut item.attrs, &errors);
    for a in take_serde_attrs(&mut item.attrs) {
        errors.spanned(
            a,
            "serde attributes do not apply to a polymorphic record enum: it is encoded as the \
             variant's record",
        );
    }
    let mut records = Vec::new();
    let mut other: Option<Variant> = None;
    for v in item.variants.iter_mut() {
        let mut marked_other = false;
        v.attrs.retain(|a| {
            if a.path().is_ident("record") {
                marked_other |= is_other(a, &errors);
                false
            } else {
                true
            }
        });
        for a in take_serde_attrs(&mut v.attrs) {
            errors.spanned(
                a,
                "serde attributes do not apply to the variants of a polymorphic record enum",
            );
        }
        let ty = match &v.fields {
            Fields::Unnamed(f) if f.unnamed.len() == 1 => f.unnamed[0].ty.clone(),
            _ => {
                errors.spanned(
                    &*v,
                    format!(
                        "each variant of a polymorphic record holds one record type, as in \
                         `{ENUM_EXAMPLE}`"
                    ),
                );
                continue;
            }
        };
        let variant = Variant {
            ident: v.ident.clone(),
            ty,
        };
        if marked_other {
            if other.is_some() {
                errors.spanned(&v.ident, "only one variant can be `#[record(other)]`");
            }
            other = Some(variant);
        } else {
            records.push(variant);
        }
    }
    if records.is_empty()
        && item
            .variants
            .iter()
            .all(|v| matches!(&v.fields, Fields::Unnamed(f) if f.unnamed.len() == 1))
    {
        errors.at(
            item.ident.span(),
            format!(
                "a polymorphic record needs at least one record variant, as in `{ENUM_EXAMPLE}`"
            ),
        );
    }

    let ident = &item.ident;
    let name = LitStr::new(&ident.to_string(), ident.span());
    let serde = quote!(#rt::serde);
    let record = quote!(#rt::record::Record);
    let private = quote!(#rt::record);
    let idents: Vec<_> = records.iter().map(|v| &v.ident).collect();
    let types: Vec<_> = records.iter().map(|v| &v.ty).collect();
    let indices: Vec<_> = (0..records.len()).collect();
    let count = records.len();
    let (other_ns, other_ser, other_de) = match &other {
        Some(Variant { ident: o, .. }) => (
            quote!(#ident::#o(_) => ::core::option::Option::None,),
            quote!(#ident::#o(__v) => #serde::Serialize::serialize(__v, __serializer),),
            quote!(__record.decode().map(#ident::#o)),
        ),
        None => (
            quote!(),
            quote!(),
            quote!(::core::result::Result::Err(__record.unknown(#name, &__known))),
        ),
    };

    let errors = errors.into_compile_errors();
    quote! {
        #item

        const _: () = {
            impl #rt::record::Polymorphic for #ident {
                fn namespaces() -> ::std::vec::Vec<&'static str> {
                    ::std::vec![#(<#types as #record>::namespace()),*]
                }
                fn namespace(&self) -> ::core::option::Option<&'static str> {
                    match self {
                        #(#ident::#idents(_) => ::core::option::Option::Some(<#types as #record>::namespace()),)*
                        #other_ns
                    }
                }
            }

            impl #serde::Serialize for #ident {
                fn serialize<__S: #serde::Serializer>(
                    &self,
                    __serializer: __S,
                ) -> ::core::result::Result<__S::Ok, __S::Error> {
                    match self {
                        #(#ident::#idents(__v) => #private::serialize_variant::<#types, __S>(__v, __serializer),)*
                        #other_ser
                    }
                }
            }

            impl<'__de> #serde::Deserialize<'__de> for #ident {
                fn deserialize<__D: #serde::Deserializer<'__de>>(
                    __deserializer: __D,
                ) -> ::core::result::Result<Self, __D::Error> {
                    let __known: [&'static str; #count] = [#(<#types as #record>::namespace()),*];
                    let __record = #private::Buffered::<__D::Error>::read(__deserializer)?;
                    match __record.position(&__known) {
                        #(::core::option::Option::Some(#indices) => __record.decode::<#types>().map(#ident::#idents),)*
                        _ => #other_de,
                    }
                }
            }
        };

        #errors
    }
}

#[cfg(test)]
mod tests {
    use super::expand;
    use quote::quote;

    fn messages(out: &proc_macro2::TokenStream) -> Vec<String> {
        let text = out.to_string();
        text.split("compile_error ! {")
            .skip(1)
            .filter_map(|s| s.split('"').nth(1).map(str::to_string))
            .collect()
    }

    #[test]
    fn serde_attributes_move_to_the_shadow() {
        let out = expand(
            quote!(namespace = "app.Order"),
            quote!(
                #[derive(Debug, Serialize, serde::Deserialize, Clone)]
                #[serde(rename_all = "camelCase")]
                pub struct Order {
                    #[serde(rename = "orderId")]
                    pub id: u64,
                    pub product_name: String,
                }
            ),
        );
        assert!(messages(&out).is_empty(), "{out}");
        let text = out.to_string();
        // The struct keeps its other derives and loses its serde attributes.
        let strukt = text.split("const _").next().unwrap();
        assert!(strukt.contains("derive (Debug , Clone)"), "{strukt}");
        assert!(!strukt.contains("serde"), "{strukt}");
        assert!(text.contains("remote = \"Order\""));
        assert!(text.contains("# [serde (rename = \"orderId\")] id : u64"));
        assert!(text.contains("# [serde (rename_all = \"camelCase\")]"));
        assert!(text.contains("\"app.Order\""));
        assert!(text.contains("with_metadata"));
    }

    #[test]
    fn metadata_can_be_left_out() {
        let out = expand(
            quote!(include_metadata = false),
            quote!(
                struct Point {
                    x: i32,
                }
            ),
        );
        assert!(messages(&out).is_empty(), "{out}");
        let text = out.to_string();
        assert!(!text.contains("with_metadata"));
        assert!(text.contains("default_namespace"));
    }

    #[test]
    fn wrong_items_and_keys_are_reported() {
        let out = expand(
            quote!(),
            quote!(
                enum Color {
                    Red,
                }
            ),
        );
        assert_eq!(messages(&out).len(), 1, "{out}");
        assert!(out.to_string().contains("holds one record type"), "{out}");
        let out = expand(
            quote!(),
            quote!(
                struct Id(u64);
            ),
        );
        assert!(out.to_string().contains("not on a tuple struct"), "{out}");
        let out = expand(
            quote!(),
            quote!(
                struct Borrowed<'a> {
                    name: &'a str,
                }
            ),
        );
        assert!(out.to_string().contains("lifetime parameters"), "{out}");
        let msgs = messages(&expand(
            quote!(namespce = "x", include_metadata = "yes"),
            quote!(
                struct A {
                    a: u8,
                }
            ),
        ));
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].contains("did you mean `namespace`"));
        assert!(msgs[1].contains("`include_metadata` expects `true` or `false`"));
    }

    #[test]
    fn enums_become_polymorphic_records() {
        let out = expand(
            quote!(),
            quote!(
                #[derive(Debug, Serialize, Deserialize, Clone)]
                pub enum Event {
                    Order(Order),
                    Refund(app::Refund),
                    #[record(other)]
                    Unknown(serde_json::Value),
                }
            ),
        );
        assert!(messages(&out).is_empty(), "{out}");
        let text = out.to_string();
        let item = text.split("const _").next().unwrap();
        assert!(item.contains("derive (Debug , Clone)"), "{item}");
        assert!(!item.contains("record"), "{item}");
        assert!(text.contains("Polymorphic for Event"));
        assert!(text.contains("Some (0usize) => __record . decode :: < Order >"));
        assert!(text.contains("Some (1usize) => __record . decode :: < app :: Refund >"));
        assert!(text.contains("__record . decode () . map (Event :: Unknown)"));
        assert!(!text.contains("__record . unknown"));
    }

    #[test]
    fn wrong_polymorphic_enums_are_reported() {
        let msgs = messages(&expand(
            quote!(namespace = "x"),
            quote!(
                #[serde(tag = "t")]
                enum E<T> {
                    A(A),
                    B {
                        x: u8,
                    },
                    C(C, D),
                    #[record(other)]
                    X(serde_json::Value),
                    #[record(other)]
                    Y(serde_json::Value),
                    #[record(sometimes)]
                    Z(Z),
                    #[serde(rename = "q")]
                    Q(T),
                }
            ),
        ));
        let all = msgs.join("\n");
        for want in [
            "takes no settings",
            "generic parameters",
            "serde attributes do not apply to a polymorphic record enum",
            "holds one record type",
            "only one variant can be `#[record(other)]`",
            "only `#[record(other)]` is accepted",
            "serde attributes do not apply to the variants",
        ] {
            assert!(all.contains(want), "missing {want:?} in {all}");
        }
        let msgs = messages(&expand(
            quote!(),
            quote!(
                enum E {
                    #[record(other)]
                    X(serde_json::Value),
                }
            ),
        ));
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(msgs[0].contains("at least one record variant"), "{msgs:?}");
    }
}
