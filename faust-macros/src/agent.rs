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
use syn::{FnArg, Ident, LitStr, Path, ReturnType, Type};

/// The `key = value` settings of `#[agent]` (after the topic or channel).
pub(crate) const KEYS: &[&str] = &[
    "name",
    "concurrency",
    "handle",
    "sink",
    "isolated_partitions",
    "key",
    "value",
];

#[derive(Default)]
struct Settings {
    handle: Option<Path>,
    /// A first argument was written (even if it did not parse).
    handle_given: bool,
    name: Option<LitStr>,
    concurrency: Option<usize>,
    /// `handle = Name`: the agent handle struct to declare.
    agent_handle: Option<Ident>,
    /// `sink = [A, B]`: where yielded values are forwarded.
    sinks: Vec<Path>,
    /// The span of the `sink` key, for errors.
    sink_key: Option<Span>,
    /// `isolated_partitions = true`: one instance per assigned partition.
    isolated: Option<bool>,
    /// The span of the `isolated_partitions` key, for errors.
    isolated_key: Option<Span>,
    /// `key = K` of the agent's own topic (an agent declared without a topic).
    key: Option<Type>,
    /// `value = V` of the agent's own topic.
    value: Option<Type>,
    /// The span of the first of `key` / `value`, for errors.
    types_key: Option<Span>,
}

/// The agent's arguments: the stream, and what it yields (`out: Yield<R>`).
struct Arguments<'a> {
    stream: Option<&'a Type>,
    /// `R` of `Yield<R>`.
    yields: Option<Type>,
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
    let args = arguments(sig, &errors);
    let arg_ty = args.stream;
    ok &= arg_ty.is_some();
    if let (Some(true), Some(n), Some(span)) = (
        settings.isolated,
        settings.concurrency,
        settings.isolated_key,
    ) {
        if n > 1 {
            errors.at(
                span,
                "an agent with `isolated_partitions = true` runs one instance per partition: \
                 remove `concurrency` (as in Faust, concurrency must be 1 with isolated partitions)",
            );
            ok = false;
        }
    }
    if let (Some(span), None) = (settings.sink_key, &args.yields) {
        errors.at(
            span,
            "`sink = [...]` forwards what the agent yields: give the agent a second argument \
             `out: Yield<Value>` and call `out.send(value).await`",
        );
        ok = false;
    }
    // An agent without a topic reads its own, `{app_id}-{name}`, of the declared types.
    let own_topic = !settings.handle_given && settings.value.is_some();
    match (settings.handle_given, settings.types_key) {
        (true, Some(span)) => {
            errors.at(
                span,
                format!(
                    "`key` and `value` declare the types of an agent's own topic (an agent \
                     declared without a topic); this agent reads `{}`, whose declaration gives \
                     its types: remove them",
                    settings
                        .handle
                        .as_ref()
                        .map(attr::type_string)
                        .unwrap_or_default()
                ),
            );
            ok = false;
        }
        (false, Some(span)) if settings.value.is_none() => {
            errors.at(
                span,
                "an agent without a topic needs the value type of its own topic: \
                 `value = Order` (and optionally `key = String`)",
            );
            ok = false;
        }
        (false, None) => {
            let example = arg_ty
                .and_then(stream_item_type)
                .unwrap_or_else(|| "MyTopic".to_string());
            errors.at(
                Span::call_site(),
                format!(
                    "missing the topic or channel: write #[agent({example})], or give the \
                     agent its own topic with `handle = Name, value = Type`"
                ),
            );
            ok = false;
        }
        _ => {}
    }
    let mut handle_path = settings.handle.clone();
    if own_topic {
        match &settings.agent_handle {
            Some(h) => handle_path = Some(Path::from(h.clone())),
            None => {
                errors.at(
                    Span::call_site(),
                    "an agent without a topic reads its own topic `{app_id}-{agent_name}`: \
                     name its handle with `handle = Name` and take `stream: Stream<Name>`",
                );
                ok = false;
            }
        }
    }
    ok &= handle_path.is_some();
    let name = settings
        .name
        .as_ref()
        .map(LitStr::value)
        .unwrap_or_else(|| fn_ident.unraw().to_string());
    // Also when the value type is missing (then `()`), so that `Stream<Handle>` adds no
    // "not a topic" error to the one reported.
    let unit: Type = syn::parse_quote!(());
    let own_topic_impls = match &settings.agent_handle {
        Some(h) if !settings.handle_given && settings.types_key.is_some() => {
            Some(crate::topic::agent_topic(
                h,
                &name,
                settings.key.as_ref(),
                Some(settings.value.as_ref().unwrap_or(&unit)),
            ))
        }
        _ => None,
    };

    let vis = &func.vis;
    if !ok {
        // Keep the function (so calls to it resolve), declare the handle (so its uses resolve)
        // and add the errors.
        let errors = errors.into_compile_errors();
        let stub = settings.agent_handle.as_ref().map(|h| {
            quote! {
                #[allow(dead_code)]
                #vis struct #h;
            }
        });
        return quote! {
            #func
            #stub
            #own_topic_impls
            const _: () = {
                let _ = #fn_ident;
            };
            #errors
        };
    }

    let handle = handle_path.as_ref().expect("checked above");
    let arg_ty = arg_ty.expect("checked above");
    let ret_ty = match &sig.output {
        ReturnType::Type(_, ty) if !matches!(**ty, Type::ImplTrait(_)) => ty.to_token_stream(),
        ReturnType::Type(..) => quote!(_),
        ReturnType::Default => quote!(()),
    };
    let fn_str = fn_ident.unraw().to_string();
    let concurrency = settings.concurrency.unwrap_or(1);
    let source = quote::quote_spanned!(handle.span()=> <#handle as #rt::Channel>::__source);

    // Where each sink leads, for the topology (an agent handle leads to its agent's topic).
    let sink_sources = settings.sinks.iter().map(
        |p| quote::quote_spanned!(p.span()=> (|| #p.__sink_source()) as fn() -> #rt::SourceRef),
    );
    let reply_ty = match &args.yields {
        Some(r) => r.to_token_stream(),
        None => quote!(#rt::NoReply),
    };
    let isolated = settings.isolated.unwrap_or(false);
    let start = match &args.yields {
        None if isolated => quote! {
            #rt::start_isolated_agent::<#handle, #arg_ty, _, _, #ret_ty>(ctx, &__SPEC, #fn_ident, false)
        },
        Some(r) if isolated => {
            let forward = sink_forwarding(&settings.sinks, r);
            quote! {{
                #forward
                #rt::start_isolated_agent::<#handle, #arg_ty, _, _, #ret_ty>(
                    ctx,
                    &__SPEC,
                    |stream: #arg_ty| #fn_ident(stream, #rt::Yield::__new(__sinks)),
                    true,
                )
            }}
        }
        None => quote! {
            #rt::start_agent::<#handle, #arg_ty, _, _, #ret_ty>(ctx, &__SPEC, #fn_ident)
        },
        Some(r) => {
            let forward = sink_forwarding(&settings.sinks, r);
            quote! {{
                #forward
                #rt::start_yielding_agent::<#handle, #arg_ty, _, _, #ret_ty>(
                    ctx,
                    &__SPEC,
                    |stream: #arg_ty| #fn_ident(stream, #rt::Yield::__new(__sinks)),
                )
            }}
        }
    };
    let agent_handle = settings.agent_handle.as_ref().map(|h| {
        let reads = if own_topic {
            format!("its own topic `{{app_id}}-{name}`")
        } else {
            format!("`{}`", attr::type_string(handle))
        };
        let doc = format!(
            "Handle of agent `{name}` (reads {reads}): `send`, `cast`, `ask`, `map`, `kvmap` \
             and `join` through [`AgentApi`]({rt_path}::AgentApi).",
            rt_path = "faust_runtime",
        );
        // An agent's own topic is a topic by construction (its types are checked there).
        let assert_topic = (!own_topic).then(|| {
            quote::quote_spanned! {handle.span()=>
                const _: fn() = || {
                    fn agent_handles_need_a_topic<T: #rt::Topic>() {}
                    agent_handles_need_a_topic::<#handle>();
                };
            }
        });
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, Copy)]
            #vis struct #h;

            impl ::core::ops::Deref for #h {
                type Target = #rt::AgentApi<#handle, #reply_ty>;
                fn deref(&self) -> &Self::Target {
                    static API: #rt::AgentApi<#handle, #reply_ty> = #rt::AgentApi::__unbound(#name);
                    &API
                }
            }

            #assert_topic

            #own_topic_impls
        }
    });

    let errors = errors.into_compile_errors();
    quote! {
        #func

        #agent_handle

        #[allow(clippy::result_large_err)]
        const _: () = {
            static __SPEC: #rt::AgentSpec = #rt::AgentSpec {
                name: #name,
                qualified: ::core::concat!(::core::module_path!(), "::", #fn_str),
                module: ::core::module_path!(),
                concurrency: #concurrency,
                source: #source,
                sinks: &[#(#sink_sources),*],
                start: |ctx| #start,
            };

            #rt::inventory::submit! {
                #rt::Registration::Agent(&__SPEC)
            }
        };

        #errors
    }
}

/// Generates `fn __sinks(value)`: forwards a yielded value to each sink (a clone to all but
/// the last), each call spanned at the sink so that a sink of another value type is reported
/// there.
fn sink_forwarding(sinks: &[Path], reply: &Type) -> TokenStream {
    if sinks.is_empty() {
        return quote! {
            fn __sinks(v: #reply) -> #rt::BoxFuture<'static, #rt::Result<()>> {
                #rt::__no_sinks(v)
            }
        };
    }
    let n = sinks.len();
    let sends = sinks.iter().enumerate().map(|(i, sink)| {
        let value = if i + 1 < n {
            quote::quote_spanned!(sink.span()=> ::core::clone::Clone::clone(&v))
        } else {
            quote!(v)
        };
        quote::quote_spanned! {sink.span()=>
            #sink.__sink(#value).await?;
        }
    });
    quote! {
        fn __sinks(v: #reply) -> #rt::BoxFuture<'static, #rt::Result<()>> {
            ::std::boxed::Box::pin(async move {
                #(#sends)*
                ::core::result::Result::Ok(())
            })
        }
    }
}

/// The stream argument and the optional `Yield<R>`; problems are recorded (and the stream is
/// `None` when there is not exactly one stream argument).
fn arguments<'a>(sig: &'a syn::Signature, errors: &Errors) -> Arguments<'a> {
    const ONE: &str =
        "an agent takes the stream as its first argument, e.g. `stream: Stream<Orders>`";
    let none = Arguments {
        stream: None,
        yields: None,
    };
    let mut inputs = sig.inputs.iter();
    let first = match inputs.next() {
        None => {
            errors.at(sig.paren_token.span.join(), ONE);
            return none;
        }
        // A `self` receiver is reported by `plain_async_fn`.
        Some(FnArg::Receiver(_)) => return none,
        Some(FnArg::Typed(t)) => t,
    };
    let mut yields = None;
    let mut ok = true;
    let rest: Vec<&FnArg> = inputs.collect();
    match rest.as_slice() {
        [] => {}
        [FnArg::Typed(t)] if yield_type(&t.ty).is_some() => yields = yield_type(&t.ty),
        extra => {
            errors.spanned(
                quote!(#(#extra),*),
                "an agent takes the stream and, when it yields values, an `out: Yield<Value>`: \
                 remove the other arguments (read other topics and channels from inside the \
                 agent, or declare another agent)",
            );
            ok = false;
        }
    }
    if let Type::ImplTrait(_) = &*first.ty {
        errors.spanned(
            &first.ty,
            "the stream argument needs a concrete type: `Stream<Orders>` or `Events<Orders>`",
        );
        return none;
    }
    Arguments {
        stream: ok.then_some(&*first.ty),
        yields,
    }
}

/// `R` of `Yield<R>` (the last path segment named `Yield` with one type argument).
fn yield_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Yield" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) if args.args.len() == 1 => Some(t.clone()),
        _ => None,
    }
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
            "handle" => s.agent_handle = e.parse(
                errors,
                "`handle` names the agent handle struct to declare, e.g. `handle = ProcessOrders`",
            ),
            "key" => {
                s.types_key.get_or_insert(key.span());
                s.key = e.parse(errors, "`key` expects a type, e.g. `key = String`");
            }
            "value" => {
                s.types_key.get_or_insert(key.span());
                s.value = e.parse(errors, "`value` expects a type, e.g. `value = Order`");
            }
            "isolated_partitions" => {
                s.isolated_key = Some(key.span());
                s.isolated = attr::boolean(errors, &e);
            }
            "sink" => {
                s.sink_key = Some(key.span());
                let hint =
                    "`sink` lists topics, channels or agent handles: `sink = [Totals, Audit]`";
                if let Some(list) = e.parse::<syn::ExprArray>(errors, hint) {
                    for elem in list.elems {
                        match elem {
                            syn::Expr::Path(p) if p.qself.is_none() => s.sinks.push(p.path),
                            other => errors.spanned(&other, hint),
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
        assert!(out.contains("an agent takes the stream as its first argument"));
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
}
