//! `#[topic(name = "orders", key = String, value = Order, ...)]` on a unit struct: a static
//! `TopicSpec`, the `Channel` and `Topic` impls, `Deref` to the typed handle and the registration.

use crate::attr::{self, duration_tokens, is_raw_type, split_entries, Entry, Errors, KeySet};
use crate::item;
use crate::rt;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Expr, Lit, LitStr, Path, Type};

/// Every key `#[topic]` accepts, in the order the docs list them.
pub(crate) const KEYS: &[&str] = &[
    "name",
    "names",
    "pattern",
    "key",
    "value",
    "key_serializer",
    "value_serializer",
    "partitions",
    "retention",
    "compacting",
    "deleting",
    "replicas",
    "acks",
    "delivery_guarantee",
    "maxsize",
    "config",
    "on_error",
    "dead_letter",
    "root",
];

const EXAMPLE: &str = "#[topic(name = \"orders\", value = Order)]";

/// The attribute, read. Each setting is the expression to put in the spec, when given.
#[derive(Default)]
struct Settings {
    /// `name` was written (even if its value was refused).
    name_given: bool,
    name: Option<LitStr>,
    /// `names = ["a", "b"]`: a handle covering several topics.
    names: Option<Vec<LitStr>>,
    /// `pattern = "^events-.*"`: a handle reading every matching topic.
    pattern: Option<LitStr>,
    key: Option<Type>,
    value: Option<Type>,
    key_serializer: Option<LitStr>,
    value_serializer: Option<LitStr>,
    partitions: Option<i32>,
    retention: Option<u128>,
    compacting: Option<bool>,
    deleting: Option<bool>,
    replicas: Option<i16>,
    acks: Option<TokenStream>,
    delivery_guarantee: Option<TokenStream>,
    maxsize: Option<usize>,
    config: Option<Vec<(String, String)>>,
    on_error: Option<TokenStream>,
    dead_letter: Option<LitStr>,
    root: Option<Path>,
}

/// Expands `#[topic(attr)] item`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let errors = Errors::new();
    let Some(strukt) = item::unit_struct(item.clone(), "#[topic]", "struct Orders;", &errors)
    else {
        // Not something a handle can be made of: leave the item as written, report the
        // attribute's own mistakes too, and give the type stub impls of the handle's traits.
        let s = parse_settings(attr, &errors);
        let dummy = item::misplaced_handle(&item).map(|ident| dummy(&ident, &s));
        let errors = errors.into_compile_errors();
        return quote!(#item #dummy #errors);
    };
    let s = parse_settings(attr, &errors);
    let ident = &strukt.ident;

    if !s.name_given {
        errors.at(
            Span::call_site(),
            format!("#[topic] needs `name`, the Kafka topic name, e.g. {EXAMPLE}"),
        );
    }
    let name = s
        .name
        .as_ref()
        .or_else(|| s.names.as_ref().and_then(|n| n.first()))
        .or(s.pattern.as_ref())
        .map(LitStr::value)
        .unwrap_or_default();

    let mark_used = item::mark_used(&strukt);
    let impls = impls(ident, &s, name, mark_used, false);
    let strukt = item::with_handle_derives(&strukt);
    let errors = errors.into_compile_errors();
    quote! {
        #strukt

        #impls

        #errors
    }
}

/// The `Channel` and `Topic` impls of the topic an agent declared without one reads:
/// `{app_id}-{agent}` (the spec carries `agent` and `has_prefix`), with the given key and value
/// types. No `Deref` (the handle dereferences to the agent's API) and no registration (the
/// agent's source is collected with the agent).
pub(crate) fn agent_topic(
    ident: &syn::Ident,
    agent: &str,
    key: Option<&Type>,
    value: Option<&Type>,
) -> TokenStream {
    let s = Settings {
        name_given: true,
        key: key.cloned(),
        value: value.cloned(),
        ..Settings::default()
    };
    impls(ident, &s, agent.to_string(), TokenStream::new(), true)
}

/// The spec, impls and registration of topic handle `ident` named `name`.
fn impls(
    ident: &syn::Ident,
    s: &Settings,
    name: String,
    mark_used: TokenStream,
    agent_topic: bool,
) -> TokenStream {
    let ident_str = ident.to_string();
    let key_ty = s
        .key
        .as_ref()
        .map(ToTokens::to_token_stream)
        .unwrap_or_else(|| quote!(::std::vec::Vec<u8>));
    // A missing value type is reported once, by the associated type itself (which then stands
    // for `()`); the rest of the expansion stays well-formed, so agents and streams naming the
    // handle do not add "not a Channel" errors.
    let value_ty = match &s.value {
        Some(v) => v.to_token_stream(),
        None => {
            let msg = format!("#[topic] needs `value`, the type of the records, e.g. {EXAMPLE}");
            quote_spanned!(Span::call_site()=> ::core::compile_error!(#msg))
        }
    };

    let value_serializer = s.value_serializer.as_ref().map(LitStr::value).or_else(|| {
        s.value
            .as_ref()
            .filter(|v| is_raw_type(v))
            .map(|_| "raw".to_string())
    });

    let some = |t: TokenStream| quote!(::core::option::Option::Some(#t));
    let mut fields = TokenStream::new();
    let mut field = |name: &str, value: Option<TokenStream>| {
        if let Some(v) = value {
            let name = syn::Ident::new(name, Span::call_site());
            fields.extend(quote!(#name: #v,));
        }
    };
    field(
        "names",
        s.names.as_ref().map(|names| quote!(&[#(#names),*])),
    );
    field("pattern", s.pattern.is_some().then(|| quote!(true)));
    field("partitions", s.partitions.map(|p| some(quote!(#p))));
    field("replicas", s.replicas.map(|r| some(quote!(#r))));
    field("retention", s.retention.map(|n| some(duration_tokens(n))));
    field("compacting", s.compacting.map(|b| some(quote!(#b))));
    field("deleting", s.deleting.map(|b| some(quote!(#b))));
    field("acks", s.acks.clone().map(some));
    field("delivery_guarantee", s.delivery_guarantee.clone().map(some));
    field("maxsize", s.maxsize.map(|m| some(quote!(#m))));
    field(
        "config",
        s.config.as_ref().map(|pairs| {
            let pairs = pairs.iter().map(|(k, v)| quote!((#k, #v)));
            quote!(&[#(#pairs),*])
        }),
    );
    field(
        "key_serializer",
        s.key_serializer.as_ref().map(|k| some(quote!(#k))),
    );
    field(
        "value_serializer",
        value_serializer.map(|v| some(quote!(#v))),
    );
    field("on_error", s.on_error.clone().map(some));
    field(
        "dead_letter",
        s.dead_letter.as_ref().map(|d| some(quote!(#d))),
    );
    field(
        "root",
        s.root.as_ref().map(|root| {
            let f = quote_spanned!(root.span()=>
                <#root as #rt::Topic>::spec
                    as fn() -> &'static #rt::TopicSpec
            );
            some(f)
        }),
    );

    // The serde requirements are stated once, by the checks below (spanned at the user's types,
    // with the runtime's explanation). Everything else is written so that it adds no second
    // error: `Topic` takes them as higher-ranked bounds, which the compiler checks only where the
    // impl is used, and `Channel` (which agents and streams need) holds unconditionally, its
    // subscription picking the topic path only when the bounds hold.
    let mut bounds = TokenStream::new();
    let mut checks = TokenStream::new();
    for ty in [s.key.as_ref(), s.value.as_ref()].into_iter().flatten() {
        bounds.extend(quote!(for<'__faust> #ty: #rt::TopicType,));
        checks.extend(quote_spanned!(ty.span()=>
            const _: () = #rt::check_topic_type::<#ty>();
        ));
    }
    let has_prefix = agent_topic;
    // A pattern names no topic to send to: its handle dereferences to the pattern API, whose
    // `send` does not compile.
    let pattern_deref = (!agent_topic && s.pattern.is_some()).then(|| {
        quote! {
            impl ::core::ops::Deref for #ident {
                type Target = #rt::PatternApi<#ident>;

                fn deref(&self) -> &Self::Target {
                    static API: #rt::PatternApi<#ident> = #rt::PatternApi::NEW;
                    &API
                }
            }
        }
    });
    let deref = (!agent_topic && s.pattern.is_none()).then(|| {
        quote! {
            impl ::core::ops::Deref for #ident {
                type Target = #rt::TopicApi<#ident>;

                fn deref(&self) -> &Self::Target {
                    static API: #rt::TopicApi<#ident> = #rt::TopicApi::UNBOUND;
                    &API
                }
            }
        }
    });
    let register = (!agent_topic).then(|| {
        quote! {
            #rt::inventory::submit! {
                #rt::Registration::Topic(&__SPEC)
            }
        }
    });
    quote! {
        #[allow(clippy::result_large_err)]
        const _: () = {
            static __SPEC: #rt::TopicSpec = #rt::TopicSpec {
                name: #name,
                has_prefix: #has_prefix,
                type_name: ::core::concat!(::core::module_path!(), "::", #ident_str),
                module: ::core::module_path!(),
                // Through the impl's associated types: a missing or unknown type is reported
                // once, there.
                __key_type: ::core::any::type_name::<<#ident as #rt::Channel>::Key>,
                __value_type: ::core::any::type_name::<<#ident as #rt::Channel>::Value>,
                __send_json: ::core::option::Option::Some(|app, record| {
                    #[allow(unused_imports)]
                    use {__Serde as _, __NotSerde as _};
                    (&__Probe).__send_json(app, record)
                }),
                #fields
                ..#rt::TopicSpec::DEFAULT
            };

            impl #rt::Channel for #ident {
                type Key = #key_ty;
                type Value = #value_ty;

                fn __source() -> #rt::SourceRef {
                    #rt::SourceRef::Topic(&__SPEC)
                }

                fn __subscribe(
                    ctx: &mut #rt::SubscribeCtx<'_>,
                    agent: &'static #rt::AgentSpec,
                    instances: usize,
                ) -> #rt::Result<::std::vec::Vec<#rt::Stream<Self>>> {
                    #[allow(unused_imports)]
                    use {__Serde as _, __NotSerde as _};
                    (&__Probe).__subscribe(ctx, agent, instances)
                }
            }

            struct __Probe;

            trait __Serde {
                fn __subscribe(
                    &self,
                    ctx: &mut #rt::SubscribeCtx<'_>,
                    agent: &'static #rt::AgentSpec,
                    instances: usize,
                ) -> #rt::Result<::std::vec::Vec<#rt::Stream<#ident>>>;

                fn __send_json(
                    &self,
                    app: #rt::App,
                    record: &#rt::JsonRecord,
                ) -> #rt::Result<#rt::JsonSendFuture>;
            }

            impl __Serde for __Probe where #bounds {
                fn __subscribe(
                    &self,
                    ctx: &mut #rt::SubscribeCtx<'_>,
                    agent: &'static #rt::AgentSpec,
                    instances: usize,
                ) -> #rt::Result<::std::vec::Vec<#rt::Stream<#ident>>> {
                    #rt::subscribe_topic::<#ident>(ctx, agent, instances)
                }

                fn __send_json(
                    &self,
                    app: #rt::App,
                    record: &#rt::JsonRecord,
                ) -> #rt::Result<#rt::JsonSendFuture> {
                    #rt::send_json::<#ident>(app, record)
                }
            }

            // Chosen only when the key or value type is not serde, which `check_topic_type`
            // already reports: the crate does not build, so this is never run.
            trait __NotSerde {
                fn __subscribe(
                    &self,
                    ctx: &mut #rt::SubscribeCtx<'_>,
                    agent: &'static #rt::AgentSpec,
                    instances: usize,
                ) -> #rt::Result<::std::vec::Vec<#rt::Stream<#ident>>>;

                fn __send_json(
                    &self,
                    app: #rt::App,
                    record: &#rt::JsonRecord,
                ) -> #rt::Result<#rt::JsonSendFuture>;
            }

            impl __NotSerde for &__Probe {
                fn __subscribe(
                    &self,
                    _: &mut #rt::SubscribeCtx<'_>,
                    _: &'static #rt::AgentSpec,
                    _: usize,
                ) -> #rt::Result<::std::vec::Vec<#rt::Stream<#ident>>> {
                    ::core::unreachable!()
                }

                fn __send_json(
                    &self,
                    _: #rt::App,
                    _: &#rt::JsonRecord,
                ) -> #rt::Result<#rt::JsonSendFuture> {
                    ::core::unreachable!()
                }
            }

            impl #rt::Topic for #ident where #bounds {
                fn spec() -> &'static #rt::TopicSpec {
                    &__SPEC
                }
            }

            #deref
            #pattern_deref

            #mark_used

            #checks

            #register
        };
    }
}
/// Stub impls of `Channel`, `Topic` and `Deref` for a type the attribute could not make a handle
/// of (the error is already reported): code that names the type as a topic then type-checks
/// against the declared key and value types instead of adding "not a topic" errors. The crate
/// does not build, so none of it runs.
fn dummy(ident: &syn::Ident, s: &Settings) -> TokenStream {
    let key = s
        .key
        .as_ref()
        .map(ToTokens::to_token_stream)
        .unwrap_or_else(|| quote!(::std::vec::Vec<u8>));
    let value = s
        .value
        .as_ref()
        .map(ToTokens::to_token_stream)
        .unwrap_or_else(|| quote!(()));
    let mut bounds = TokenStream::new();
    for ty in [s.key.as_ref(), s.value.as_ref()].into_iter().flatten() {
        bounds.extend(quote!(for<'__faust> #ty: #rt::TopicType,));
    }
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

            impl #rt::Topic for #ident where #bounds {
                fn spec() -> &'static #rt::TopicSpec {
                    ::core::unreachable!()
                }
            }

            impl ::core::ops::Deref for #ident {
                type Target = #rt::TopicApi<#ident>;

                fn deref(&self) -> &Self::Target {
                    static API: #rt::TopicApi<#ident> = #rt::TopicApi::UNBOUND;
                    &API
                }
            }
        };
    }
}

fn parse_settings(attr: TokenStream, errors: &Errors) -> Settings {
    let mut s = Settings::default();
    let mut keys = KeySet::new("#[topic]", KEYS);
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
            "name" | "names" | "pattern" if s.name_given => {
                errors.spanned(
                    key,
                    "give the topic `name`, `names = [..]` for a handle covering several, or \
                     `pattern = \"^...\"` for every matching topic: one of them",
                );
            }
            "pattern" => {
                s.name_given = true;
                s.pattern = topic_pattern(errors, &e);
            }
            "name" => {
                s.name_given = true;
                s.name = topic_name(errors, &e);
            }
            "names" => {
                s.name_given = true;
                s.names = topic_names(errors, &e);
            }
            "key" => s.key = e.parse(errors, "`key` expects a type, e.g. `key = String`"),
            "value" => s.value = e.parse(errors, "`value` expects a type, e.g. `value = Order`"),
            "key_serializer" => {
                s.key_serializer = attr::non_empty_string(errors, &e, "key_serializer = \"json\"")
            }
            "value_serializer" => {
                s.value_serializer =
                    attr::non_empty_string(errors, &e, "value_serializer = \"json\"")
            }
            "partitions" => {
                s.partitions = attr::positive_int(errors, &e, i32::MAX as u64).map(|n| n as i32)
            }
            "replicas" => {
                s.replicas = attr::positive_int(errors, &e, i16::MAX as u64).map(|n| n as i16)
            }
            "maxsize" => {
                s.maxsize = attr::positive_int(errors, &e, u32::MAX as u64).map(|n| n as usize)
            }
            "retention" => s.retention = attr::duration(errors, &e, false),
            "compacting" => s.compacting = attr::boolean(errors, &e),
            "deleting" => s.deleting = attr::boolean(errors, &e),
            "acks" => s.acks = acks(errors, &e),
            "delivery_guarantee" => {
                s.delivery_guarantee = attr::choice(errors, &e, &["at_least_once", "exactly_once"])
                    .map(|(v, _)| {
                        if v == "exactly_once" {
                            quote!(#rt::DeliveryGuarantee::ExactlyOnce)
                        } else {
                            quote!(#rt::DeliveryGuarantee::AtLeastOnce)
                        }
                    })
            }
            "on_error" => {
                s.on_error =
                    attr::choice(errors, &e, &["skip", "dead_letter", "stop"]).map(|(v, _)| match v
                        .as_str()
                    {
                        "skip" => quote!(#rt::ErrorPolicy::Skip),
                        "dead_letter" => {
                            quote!(#rt::ErrorPolicy::DeadLetter)
                        }
                        _ => quote!(#rt::ErrorPolicy::Stop),
                    })
            }
            "dead_letter" => s.dead_letter = topic_name(errors, &e),
            "config" => s.config = config(errors, &e),
            "root" => {
                s.root = e.parse(
                    errors,
                    "`root` expects the type of another #[topic], e.g. `root = Orders`",
                )
            }
            other => unreachable!("key `{other}` is in KEYS but not handled"),
        }
    }
    s
}

/// `names = ["a", "b"]`: one or more distinct Kafka topic names.
fn topic_names(errors: &Errors, e: &Entry) -> Option<Vec<LitStr>> {
    const HINT: &str =
        "`names` expects a list of topic names, e.g. `names = [\"clicks\", \"views\"]`";
    let Ok(list) = syn::parse2::<syn::ExprArray>(e.value.clone()) else {
        errors.spanned(&e.value, HINT);
        return None;
    };
    if list.elems.is_empty() {
        errors.spanned(&e.value, HINT);
        return None;
    }
    let mut names: Vec<LitStr> = Vec::new();
    let mut ok = true;
    for elem in &list.elems {
        match elem {
            Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) => {
                if !valid_topic_name(errors, "names", s) {
                    ok = false;
                } else if names.iter().any(|n| n.value() == s.value()) {
                    errors.spanned(s, format!("`names`: \"{}\" is listed twice", s.value()));
                    ok = false;
                } else {
                    names.push(s.clone());
                }
            }
            other => {
                errors.spanned(other, HINT);
                ok = false;
            }
        }
    }
    ok.then_some(names)
}

/// `pattern = "^events-.*"`: a regular expression starting with `^` (how Kafka clients tell a
/// pattern from a topic name), checked here.
fn topic_pattern(errors: &Errors, e: &Entry) -> Option<LitStr> {
    let s = attr::non_empty_string(errors, e, "pattern = \"^events-.*\"")?;
    let v = s.value();
    if !v.starts_with('^') {
        errors.spanned(
            &s,
            format!(
                "a topic pattern starts with `^` (that is how Kafka clients tell a pattern from \
                 a topic name): `pattern = \"^{v}\"`, or `name = \"{v}\"` for one topic"
            ),
        );
        return None;
    }
    if let Err(err) = regex_syntax::Parser::new().parse(&v) {
        errors.spanned(
            &s,
            format!("`pattern` is not a valid regular expression: {err}"),
        );
        return None;
    }
    Some(s)
}

/// A Kafka topic name: 1 to 249 characters among letters, digits, `.`, `_` and `-`.
fn topic_name(errors: &Errors, e: &Entry) -> Option<LitStr> {
    let key = e.name();
    let s = attr::non_empty_string(errors, e, &format!("{key} = \"orders\""))?;
    valid_topic_name(errors, &key, &s).then_some(s)
}

/// Whether `s` is a valid Kafka topic name (reported under `key` when not).
fn valid_topic_name(errors: &Errors, key: &str, s: &LitStr) -> bool {
    let v = s.value();
    if v.is_empty() {
        errors.spanned(s, format!("`{key}`: a topic name must not be empty"));
        return false;
    }
    if let Some(bad) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        errors.spanned(
            s,
            format!(
                "`{key}`: Kafka topic names may use only ASCII letters, digits, `.`, `_` and `-`, not {bad:?}"
            ),
        );
        return false;
    }
    if v.len() > 249 || v == "." || v == ".." {
        errors.spanned(
            s,
            format!("`{key}`: \"{v}\" is not a valid Kafka topic name"),
        );
        return false;
    }
    true
}

/// `acks`: `"all"`, `-1` or `true` for all replicas, `1` for the leader, `0` or `false` for none.
fn acks(errors: &Errors, e: &Entry) -> Option<TokenStream> {
    const HINT: &str =
        "`acks` must be \"all\" (also -1 or true), 1 (the leader only) or 0 (none; also false)";
    let lit = e.parse_lit(errors, HINT)?;
    let which = match &lit {
        Lit::Str(s) => match s.value().as_str() {
            "all" | "-1" => Some("All"),
            "1" | "leader" => Some("Leader"),
            "0" | "none" => Some("None"),
            _ => None,
        },
        Lit::Int(i) => match i.base10_digits() {
            "-1" => Some("All"),
            "1" => Some("Leader"),
            "0" => Some("None"),
            _ => None,
        },
        Lit::Bool(b) => Some(if b.value { "All" } else { "None" }),
        _ => None,
    };
    match which {
        Some(v) => {
            let v = syn::Ident::new(v, Span::call_site());
            Some(quote!(#rt::Acks::#v))
        }
        None => {
            errors.spanned(&lit, HINT);
            None
        }
    }
}

/// `config = [("segment.ms", "1000"), ...]`; numbers and booleans are accepted as values too.
fn config(errors: &Errors, e: &Entry) -> Option<Vec<(String, String)>> {
    const HINT: &str =
        "`config` expects a list of (\"key\", \"value\") pairs, e.g. `config = [(\"segment.ms\", \"60000\")]`";
    let array = e.parse::<syn::ExprArray>(errors, HINT)?;
    let mut pairs = Vec::new();
    let mut ok = true;
    for elem in &array.elems {
        let pair = match elem {
            Expr::Tuple(t) if t.elems.len() == 2 => {
                let k = config_part(&t.elems[0], true);
                let v = config_part(&t.elems[1], false);
                if k.is_none() {
                    errors.spanned(&t.elems[0], "a `config` key must be a non-empty string");
                }
                if v.is_none() {
                    errors.spanned(
                        &t.elems[1],
                        "a `config` value must be a string, number or bool",
                    );
                }
                k.zip(v)
            }
            other => {
                errors.spanned(other, HINT);
                None
            }
        };
        match pair {
            Some(p) => pairs.push(p),
            None => ok = false,
        }
    }
    ok.then_some(pairs)
}

fn config_part(expr: &Expr, is_key: bool) -> Option<String> {
    let Expr::Lit(lit) = expr else {
        return None;
    };
    match &lit.lit {
        Lit::Str(s) if !s.value().is_empty() => Some(s.value()),
        Lit::Int(i) if !is_key => Some(i.base10_digits().to_string()),
        Lit::Float(f) if !is_key => Some(f.base10_digits().to_string()),
        Lit::Bool(b) if !is_key => Some(b.value.to_string()),
        _ => None,
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
    fn well_formed_topic_has_no_errors() {
        let out = expand(
            quote!(
                name = "orders",
                key = String,
                value = Order,
                partitions = 8,
                retention = "7d",
                acks = -1,
                config = [("segment.ms", 1000)],
                on_error = "dead_letter"
            ),
            quote!(
                pub struct Orders;
            ),
        );
        assert!(messages(&out).is_empty(), "{out}");
        let text = out.to_string();
        assert!(text.contains("partitions : :: core :: option :: Option :: Some (8i32)"));
        assert!(text.contains("Acks :: All"));
        assert!(text.contains("(\"segment.ms\" , \"1000\")"));
    }

    #[test]
    fn misplaced_handle_gets_stub_impls() {
        let out = expand(
            quote!(name = "orders", value = Order, partitions = 0),
            quote!(
                enum Orders {
                    A,
                }
            ),
        );
        let msgs = messages(&out);
        assert_eq!(msgs.len(), 2, "{msgs:#?}");
        let text = out.to_string();
        assert!(text.contains("Channel for Orders"), "{text}");
        assert!(text.contains("Topic for Orders"), "{text}");
        assert!(text.contains("type Value = Order"), "{text}");
        // No registration: nothing of it may reach an app.
        assert!(!text.contains("inventory"), "{text}");
    }

    #[test]
    fn raw_value_serializer_for_text() {
        let out = expand(
            quote!(name = "lines", value = String),
            quote!(
                struct Lines;
            ),
        );
        assert!(out
            .to_string()
            .contains("value_serializer : :: core :: option :: Option :: Some (\"raw\")"));
    }

    #[test]
    fn every_problem_is_reported() {
        let out = expand(
            quote!(
                value = Order,
                partitions = 0,
                partition = 2,
                value = u8,
                acks = "most"
            ),
            quote!(
                struct Orders;
            ),
        );
        let msgs = messages(&out);
        assert_eq!(msgs.len(), 5, "{msgs:#?}");
        assert!(msgs
            .iter()
            .any(|m| m.starts_with("`partitions` must be greater than zero")));
        assert!(msgs
            .iter()
            .any(|m| m.contains("did you mean `partitions`?")));
        assert!(msgs
            .iter()
            .any(|m| m.starts_with("key `value` given twice")));
        assert!(msgs.iter().any(|m| m.starts_with("`acks` must be")));
        assert!(msgs.iter().any(|m| m.starts_with("#[topic] needs `name`")));
    }
}
