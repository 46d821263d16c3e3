//! What every macro shares: the error collector, the `key = value` list parser, the readers of
//! literal values and the compile-time duration parser.
//!
//! Each macro splits its attribute into [`Entry`]s, checks the keys against its own list with
//! [`KeySet`], then reads each value with the helpers here. Every problem goes to one [`Errors`],
//! so a single attribute with three mistakes reports three messages, each at the offending tokens,
//! and the macro can still expand the user's item next to them.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{quote, ToTokens};
use std::cell::RefCell;
use std::fmt::Display;
use syn::ext::IdentExt;
use syn::{Ident, Lit, LitStr};

/// Collects the errors of one macro invocation; turned into `compile_error!`s at the end.
#[derive(Default)]
pub(crate) struct Errors {
    list: RefCell<Vec<syn::Error>>,
}

impl Errors {
    /// An empty collector.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Records `msg` spanning `tokens` (from their first to their last token).
    pub(crate) fn spanned<T: ToTokens, M: Display>(&self, tokens: T, msg: M) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    /// Records `msg` at `span`.
    pub(crate) fn at<M: Display>(&self, span: Span, msg: M) {
        self.push(syn::Error::new(span, msg));
    }

    /// Records a parse error as it is.
    pub(crate) fn push(&self, err: syn::Error) {
        self.list.borrow_mut().push(err);
    }

    /// One `compile_error!` per recorded problem.
    pub(crate) fn into_compile_errors(self) -> TokenStream {
        self.list
            .into_inner()
            .into_iter()
            .map(|e| e.to_compile_error())
            .collect()
    }
}

/// One comma-separated element of an attribute: `key = value`, or a bare positional value.
pub(crate) struct Entry {
    /// The key of `key = value`; `None` for a positional entry.
    pub(crate) key: Option<Ident>,
    /// The tokens after `=`, or the whole entry when positional.
    pub(crate) value: TokenStream,
}

impl Entry {
    /// The key as written, without a raw-identifier prefix (`""` for a positional entry).
    pub(crate) fn name(&self) -> String {
        self.key
            .as_ref()
            .map(|k| k.unraw().to_string())
            .unwrap_or_default()
    }

    /// The value as one literal (a leading `-` included); otherwise `hint` is recorded at the
    /// value.
    pub(crate) fn parse_lit(&self, errors: &Errors, hint: &str) -> Option<Lit> {
        match syn::parse2::<Lit>(self.value.clone()) {
            Ok(lit) => Some(lit),
            Err(_) => {
                errors.spanned(&self.value, hint);
                None
            }
        }
    }

    /// The value parsed as `T`; a syntax error is recorded with `hint` appended.
    pub(crate) fn parse<T: syn::parse::Parse>(&self, errors: &Errors, hint: &str) -> Option<T> {
        match syn::parse2::<T>(self.value.clone()) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(syn::Error::new(e.span(), format!("{e}: {hint}")));
                None
            }
        }
    }
}

/// Splits an attribute's tokens at its top-level commas. Commas inside `<...>` belong to the
/// type they are in (`key = HashMap<String, u64>`), as do those inside brackets and parentheses.
pub(crate) fn split_entries(input: TokenStream, errors: &Errors) -> Vec<Entry> {
    let mut chunks: Vec<Vec<TokenTree>> = vec![Vec::new()];
    let mut angle_depth = 0usize;
    let mut prev_joint: Option<char> = None;
    for tt in input {
        if let TokenTree::Punct(p) = &tt {
            let c = p.as_char();
            let after_joint = prev_joint.take();
            match c {
                ',' if angle_depth == 0 => {
                    chunks.push(Vec::new());
                    continue;
                }
                '<' => angle_depth += 1,
                // `->` and `=>` close nothing.
                '>' if !matches!(after_joint, Some('-') | Some('=')) => {
                    angle_depth = angle_depth.saturating_sub(1)
                }
                _ => {}
            }
            if p.spacing() == proc_macro2::Spacing::Joint {
                prev_joint = Some(c);
            }
        } else {
            prev_joint = None;
        }
        chunks.last_mut().expect("never empty").push(tt);
    }

    let mut entries = Vec::new();
    for chunk in chunks {
        if chunk.is_empty() {
            continue;
        }
        let is_key_value = matches!(
            (&chunk[0], chunk.get(1)),
            (TokenTree::Ident(_), Some(TokenTree::Punct(eq)))
                if eq.as_char() == '=' && eq.spacing() == proc_macro2::Spacing::Alone
        );
        if !is_key_value {
            entries.push(Entry {
                key: None,
                value: chunk.into_iter().collect(),
            });
            continue;
        }
        let mut it = chunk.into_iter();
        let key = match it.next() {
            Some(TokenTree::Ident(i)) => i,
            _ => unreachable!("checked above"),
        };
        it.next(); // `=`
        let value: TokenStream = it.collect();
        if value.is_empty() {
            errors.at(
                key.span(),
                format!("`{}` needs a value after `=`", key.unraw()),
            );
            continue;
        }
        entries.push(Entry {
            key: Some(key),
            value,
        });
    }
    entries
}

/// The keys one macro accepts; reports unknown keys (listing the valid ones) and repeated keys.
pub(crate) struct KeySet {
    macro_name: &'static str,
    valid: &'static [&'static str],
    seen: Vec<String>,
}

impl KeySet {
    /// The keys of `#[macro_name]`.
    pub(crate) fn new(macro_name: &'static str, valid: &'static [&'static str]) -> Self {
        KeySet {
            macro_name,
            valid,
            seen: Vec::new(),
        }
    }

    /// The valid keys, comma separated.
    pub(crate) fn list(&self) -> String {
        self.valid.join(", ")
    }

    /// Whether `key` should be read: known and not seen before. Records why not otherwise.
    pub(crate) fn accept(&mut self, key: &Ident, errors: &Errors) -> bool {
        let name = key.unraw().to_string();
        if !self.valid.contains(&name.as_str()) {
            let msg = match closest(&name, self.valid) {
                Some(near) => format!(
                    "unknown key `{name}` for {}; did you mean `{near}`? Valid keys: {}",
                    self.macro_name,
                    self.list()
                ),
                None => format!(
                    "unknown key `{name}` for {}; valid keys: {}",
                    self.macro_name,
                    self.list()
                ),
            };
            errors.at(key.span(), msg);
            return false;
        }
        if self.seen.contains(&name) {
            errors.at(key.span(), format!("key `{name}` given twice"));
            return false;
        }
        self.seen.push(name);
        true
    }
}

/// The valid key nearest to a misspelt one, if it is near enough to be a typo.
fn closest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(name, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 4) && *d < v.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Reads a string literal.
pub(crate) fn string(errors: &Errors, e: &Entry, example: &str) -> Option<LitStr> {
    match e.parse_lit(
        errors,
        &format!(
            "`{}` expects a string in double quotes, e.g. `{example}`",
            e.name()
        ),
    )? {
        Lit::Str(s) => Some(s),
        other => {
            errors.spanned(
                &other,
                format!(
                    "`{}` expects a string in double quotes, e.g. `{example}`",
                    e.name()
                ),
            );
            None
        }
    }
}

/// Reads a string literal that must not be empty.
pub(crate) fn non_empty_string(errors: &Errors, e: &Entry, example: &str) -> Option<LitStr> {
    let s = string(errors, e, example)?;
    if s.value().trim().is_empty() {
        errors.spanned(&s, format!("`{}` cannot be empty", e.name()));
        return None;
    }
    Some(s)
}

/// Reads a whole number in `1..=max`.
pub(crate) fn positive_int(errors: &Errors, e: &Entry, max: u64) -> Option<u64> {
    let key = e.name();
    let hint = format!("`{key}` expects a whole number greater than zero, e.g. `{key} = 8`");
    let lit = e.parse_lit(errors, &hint)?;
    let Lit::Int(int) = &lit else {
        errors.spanned(&lit, hint);
        return None;
    };
    if int.base10_digits().starts_with('-') {
        errors.spanned(int, format!("`{key}` must be greater than zero"));
        return None;
    }
    match int.base10_parse::<u64>() {
        Ok(0) => {
            errors.spanned(int, format!("`{key}` must be greater than zero"));
            None
        }
        Ok(n) if n <= max => Some(n),
        _ => {
            errors.spanned(int, format!("`{key}` must be at most {max}"));
            None
        }
    }
}

/// Reads `true` or `false`.
pub(crate) fn boolean(errors: &Errors, e: &Entry) -> Option<bool> {
    let key = e.name();
    let hint = format!("`{key}` expects `true` or `false`");
    match e.parse_lit(errors, &hint)? {
        Lit::Bool(b) => Some(b.value),
        other => {
            errors.spanned(&other, hint);
            None
        }
    }
}

/// Reads one of `choices` given as a string.
pub(crate) fn choice(errors: &Errors, e: &Entry, choices: &[&str]) -> Option<(String, LitStr)> {
    let list = choices
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let key = e.name();
    let s = string(errors, e, &format!("{key} = \"{}\"", choices[0]))?;
    let v = s.value();
    if choices.contains(&v.as_str()) {
        Some((v, s))
    } else {
        errors.spanned(&s, format!("`{key}` must be one of {list}, not \"{v}\""));
        None
    }
}

/// The forms a duration may take, for error messages.
pub(crate) const DURATION_FORMS: &str =
    "\"250ms\", \"5s\", \"1.5s\", \"1m\", \"1h\", \"2d\", or a plain number of seconds such as \"5\" or 5";

/// Reads a duration: a string like `"5s"` or `"250ms"`, or a number of seconds. Returns
/// nanoseconds. Zero is refused unless `allow_zero`.
pub(crate) fn duration(errors: &Errors, e: &Entry, allow_zero: bool) -> Option<u128> {
    let key = e.name();
    let hint = format!("`{key}` expects a duration: {DURATION_FORMS}");
    let lit = e.parse_lit(errors, &hint)?;
    let parsed = match &lit {
        Lit::Str(s) => parse_duration(&s.value()),
        Lit::Int(i) => parse_duration(i.base10_digits()),
        Lit::Float(f) => parse_duration(f.base10_digits()),
        _ => {
            errors.spanned(&lit, hint);
            return None;
        }
    };
    match parsed {
        Ok(0) if !allow_zero => {
            errors.spanned(&lit, format!("{key} must be greater than zero"));
            None
        }
        Ok(n) => Some(n),
        Err(msg) => {
            errors.spanned(&lit, format!("`{key}`: {msg}"));
            None
        }
    }
}

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses `"5s"`, `"250ms"`, `"1m"`, `"1h"`, `"1.5s"`, `"2d"` or a plain number of seconds
/// (`"5"`, `"0.5"`) into nanoseconds, exactly (no floating point). Accepts the same units as the
/// runtime's settings parser.
pub(crate) fn parse_duration(text: &str) -> Result<u128, String> {
    let bad = || format!("cannot read \"{text}\" as a duration; write {DURATION_FORMS}");
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num = num.replace('_', "");
    let unit_nanos: u128 = match unit.trim() {
        "" | "s" | "sec" | "secs" | "seconds" => NANOS_PER_SEC,
        "ms" => 1_000_000,
        "m" | "min" | "mins" | "minutes" => 60 * NANOS_PER_SEC,
        "h" | "hours" => 3_600 * NANOS_PER_SEC,
        "d" | "days" => 86_400 * NANOS_PER_SEC,
        _ => return Err(bad()),
    };
    let (int_part, frac_part) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num.as_str(), ""),
    };
    if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
        return Err(bad());
    }
    let too_long = || format!("duration \"{text}\" is too long");
    let mut nanos: u128 = 0;
    if !int_part.is_empty() {
        let whole: u128 = int_part.parse().map_err(|_| too_long())?;
        nanos = whole.checked_mul(unit_nanos).ok_or_else(too_long)?;
    }
    // Fractional digits beyond nanosecond precision are dropped.
    let frac_digits = &frac_part[..frac_part.len().min(20)];
    if !frac_digits.is_empty() {
        let frac: u128 = frac_digits.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(frac_digits.len() as u32);
        nanos += frac * unit_nanos / scale;
    }
    if nanos / NANOS_PER_SEC > u128::from(u64::MAX) {
        return Err(too_long());
    }
    Ok(nanos)
}

/// A `core::time::Duration` constant for `nanos`, in the most readable constructor.
pub(crate) fn duration_tokens(nanos: u128) -> TokenStream {
    let secs = (nanos / NANOS_PER_SEC) as u64;
    let sub = (nanos % NANOS_PER_SEC) as u32;
    if sub == 0 {
        quote!(::core::time::Duration::from_secs(#secs))
    } else if sub % 1_000_000 == 0 && secs < u64::MAX / 1000 {
        let ms = secs * 1000 + u64::from(sub / 1_000_000);
        quote!(::core::time::Duration::from_millis(#ms))
    } else {
        quote!(::core::time::Duration::new(#secs, #sub))
    }
}

/// A type as a short readable string (`Vec<u8>`, not `Vec < u8 >`), for specs and messages.
pub(crate) fn type_string<T: ToTokens>(ty: &T) -> String {
    let mut out = String::new();
    write_tokens(ty.to_token_stream(), &mut out);
    out
}

fn write_tokens(ts: TokenStream, out: &mut String) {
    let mut prev_word = false;
    for tt in ts {
        match tt {
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                write_tokens(g.stream(), out);
                out.push_str(close);
                prev_word = false;
            }
            TokenTree::Ident(i) => {
                if prev_word {
                    out.push(' ');
                }
                out.push_str(&i.to_string());
                prev_word = true;
            }
            TokenTree::Literal(l) => {
                if prev_word {
                    out.push(' ');
                }
                out.push_str(&l.to_string());
                prev_word = true;
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                match c {
                    ',' | ';' => {
                        out.push(c);
                        out.push(' ');
                    }
                    '=' | '+' => {
                        out.push(' ');
                        out.push(c);
                        out.push(' ');
                    }
                    _ => out.push(c),
                }
                prev_word = false;
            }
        }
    }
}

/// Whether a type is carried as raw bytes or text by default: `String`, `str`, `Bytes`,
/// `ByteBuf` or `Vec<u8>` (by the last segment of its path).
pub(crate) fn is_raw_type(ty: &syn::Type) -> bool {
    let ty = match ty {
        syn::Type::Group(g) => &*g.elem,
        syn::Type::Paren(p) => &*p.elem,
        syn::Type::Reference(r) => &*r.elem,
        other => other,
    };
    let syn::Type::Path(p) = ty else {
        return false;
    };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let name = last.ident.to_string();
    match name.as_str() {
        "String" | "str" | "Bytes" | "ByteBuf" => true,
        "Vec" => match &last.arguments {
            syn::PathArguments::AngleBracketed(args) => {
                args.args.len() == 1
                    && matches!(
                        args.args.first(),
                        Some(syn::GenericArgument::Type(syn::Type::Path(inner)))
                            if inner.path.is_ident("u8")
                    )
            }
            _ => false,
        },
        _ => false,
    }
}

/// The trait names of the `#[derive(..)]`s on an item (last path segment of each).
pub(crate) fn derived_traits(attrs: &[syn::Attribute]) -> Vec<String> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
        let _ = attr.parse_nested_meta(|meta| {
            if let Some(last) = meta.path.segments.last() {
                out.push(last.ident.to_string());
            }
            Ok(())
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("5s"), Ok(5 * NANOS_PER_SEC));
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("1m"), Ok(60 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1h"), Ok(3_600 * NANOS_PER_SEC));
        assert_eq!(parse_duration("2d"), Ok(2 * 86_400 * NANOS_PER_SEC));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("2.8s"), Ok(2_800_000_000));
        assert_eq!(parse_duration("0.25ms"), Ok(250_000));
        assert_eq!(parse_duration(" 3 minutes "), Ok(180 * NANOS_PER_SEC));
    }

    #[test]
    fn durations_as_plain_seconds() {
        assert_eq!(parse_duration("5"), Ok(5 * NANOS_PER_SEC));
        assert_eq!(parse_duration("0.5"), Ok(500_000_000));
        assert_eq!(parse_duration(".5"), Ok(500_000_000));
        assert_eq!(parse_duration("1_000"), Ok(1_000 * NANOS_PER_SEC));
        assert_eq!(parse_duration("0"), Ok(0));
    }

    #[test]
    fn durations_rejected() {
        for bad in ["", "fast", "5 parsecs", "-1s", "1.2.3s", ".", "s", "5 s s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("250ms"), "{bad}: {err}");
        }
        assert!(parse_duration("999999999999999999999999999999d").is_err());
    }

    #[test]
    fn duration_tokens_pick_a_readable_constructor() {
        assert_eq!(
            duration_tokens(5 * NANOS_PER_SEC).to_string(),
            quote!(::core::time::Duration::from_secs(5u64)).to_string()
        );
        assert_eq!(
            duration_tokens(2_800_000_000).to_string(),
            quote!(::core::time::Duration::from_millis(2800u64)).to_string()
        );
        assert_eq!(
            duration_tokens(1_000_000_001).to_string(),
            quote!(::core::time::Duration::new(1u64, 1u32)).to_string()
        );
    }

    fn keys(ts: TokenStream) -> (Vec<(String, String)>, usize) {
        let errors = Errors::new();
        let entries = split_entries(ts, &errors)
            .into_iter()
            .map(|e| (e.name(), type_string(&e.value)))
            .collect();
        let count = errors.list.borrow().len();
        (entries, count)
    }

    #[test]
    fn entries_split_at_top_level_commas_only() {
        let (entries, errs) = keys(quote!(
            Orders,
            key = HashMap<String, Vec<u8>>,
            config = [("a", "1"), ("b", "2")],
            value = fn(u8) -> Result<(), E>,
            name = "x",
        ));
        assert_eq!(errs, 0);
        let names: Vec<_> = entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["", "key", "config", "value", "name"]);
        assert_eq!(entries[1].1, "HashMap<String, Vec<u8>>");
        assert_eq!(entries[3].1, "fn(u8)->Result<(), E>");
    }

    #[test]
    fn key_without_value_is_reported() {
        let (entries, errs) = keys(quote!(name =, value = u8));
        assert_eq!(entries.len(), 1);
        assert_eq!(errs, 1);
    }

    #[test]
    fn unknown_and_repeated_keys() {
        let errors = Errors::new();
        let mut set = KeySet::new("#[topic]", &["name", "partitions"]);
        let entries = split_entries(
            quote!(name = "a", partition = 3, name = "b", colour = 1),
            &errors,
        );
        let accepted: Vec<bool> = entries
            .iter()
            .map(|e| set.accept(e.key.as_ref().unwrap(), &errors))
            .collect();
        assert_eq!(accepted, [true, false, false, false]);
        let msgs: Vec<String> = errors.list.borrow().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "unknown key `partition` for #[topic]; did you mean `partitions`? Valid keys: name, partitions",
                "key `name` given twice",
                "unknown key `colour` for #[topic]; valid keys: name, partitions",
            ]
        );
    }

    #[test]
    fn raw_types() {
        for raw in [
            quote!(String),
            quote!(Vec<u8>),
            quote!(bytes::Bytes),
            quote!(&'static str),
        ] {
            assert!(is_raw_type(&syn::parse2(raw.clone()).unwrap()), "{raw}");
        }
        for typed in [quote!(Order), quote!(Vec<u16>), quote!(u64)] {
            assert!(
                !is_raw_type(&syn::parse2(typed.clone()).unwrap()),
                "{typed}"
            );
        }
    }

    #[test]
    fn derives_are_listed() {
        let item: syn::ItemStruct = syn::parse2(quote!(
            #[derive(Clone, std::fmt::Debug, Default)]
            struct A;
        ))
        .unwrap();
        assert_eq!(derived_traits(&item.attrs), ["Clone", "Debug", "Default"]);
    }
}
