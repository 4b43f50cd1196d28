//! Expansion of `#[derive(TarsEnum)]`.
//!
//! A closed enum has unit variants only; a value that names none of them fails the decode.
//! An open enum also has one `#[tars(unknown)] Name(i32)` variant, which keeps any value this
//! side does not know (as TarsCpp and TarsGo read every enum as a plain int32), so it is
//! written back unchanged.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Data, DeriveInput, Expr, ExprLit, ExprUnary, Fields, Lit, UnOp, Variant};

use crate::attrs::{codec_path, container_attr};

/// An enumerator (a unit variant) and its value.
struct Known<'a> {
    ident: &'a syn::Ident,
    /// The value as an `i32` expression.
    expr: TokenStream,
    /// The value, when it is a literal.
    literal: Option<i64>,
    /// Given as `#[tars(value = N)]`.
    by_attr: bool,
    /// Given as a Rust discriminant.
    by_discriminant: bool,
}

/// What a variant's `#[tars(...)]` attribute says.
#[derive(Default)]
struct VariantAttr {
    value: Option<Expr>,
    unknown: bool,
}

fn variant_attr(v: &Variant) -> syn::Result<VariantAttr> {
    let mut out = VariantAttr::default();
    for attr in v.attrs.iter().filter(|a| a.path().is_ident("tars")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("value") {
                if out.value.is_some() {
                    return Err(meta.error("duplicate `value`"));
                }
                out.value = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("unknown") {
                if out.unknown {
                    return Err(meta.error("duplicate `unknown`"));
                }
                out.unknown = true;
                Ok(())
            } else {
                Err(meta
                    .error("unknown tars enumerator attribute; expected `value = N` or `unknown`"))
            }
        })?;
    }
    Ok(out)
}

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            name,
            "TarsEnum is for enums; use #[derive(TarsStruct)] for structs",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "TarsEnum cannot be derived for generic enums",
        ));
    }
    let container = container_attr(&input.attrs, "name")?;
    let krate = codec_path(container.krate);

    // Sort the variants into the known enumerators (with their value expressions) and the
    // optional catch-all.
    let mut known: Vec<Known<'_>> = Vec::new();
    let mut unknown: Option<&Variant> = None;
    for v in &data.variants {
        let attr = variant_attr(v)?;
        if attr.unknown {
            if let Some(prev) = unknown {
                return Err(syn::Error::new_spanned(
                    &v.ident,
                    format!(
                        "only one variant can be `#[tars(unknown)]`; `{}` already is",
                        prev.ident
                    ),
                ));
            }
            let ok = matches!(&v.fields, Fields::Unnamed(f) if f.unnamed.len() == 1
                && matches!(&f.unnamed[0].ty, syn::Type::Path(p) if p.path.is_ident("i32")));
            if !ok {
                return Err(syn::Error::new_spanned(
                    v,
                    "the `#[tars(unknown)]` variant holds the value as received: declare it as `Name(i32)`",
                ));
            }
            if let Some(value) = &attr.value {
                return Err(syn::Error::new_spanned(
                    value,
                    "the `#[tars(unknown)]` variant has no value of its own",
                ));
            }
            unknown = Some(v);
            continue;
        }
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                &v.fields,
                "Tars enumerators cannot carry data (only an `#[tars(unknown)] Name(i32)` variant can)",
            ));
        }
        let ident = &v.ident;
        let (expr, literal) =
            match (&attr.value, &v.discriminant) {
                (Some(_), Some((_, d))) => return Err(syn::Error::new_spanned(
                    d,
                    "give the value either as a discriminant or as `#[tars(value = N)]`, not both",
                )),
                (Some(value), None) => {
                    let literal = check_i32(value)?;
                    (quote!({ const V: i32 = #value; V }), literal)
                }
                (None, Some((_, d))) => {
                    let literal = check_i32(d)?;
                    (quote!(#name::#ident as i32), literal)
                }
                (None, None) => (quote!(#name::#ident as i32), None),
            };
        known.push(Known {
            ident,
            expr,
            literal,
            by_attr: attr.value.is_some(),
            by_discriminant: v.discriminant.is_some(),
        });
    }
    let Some(Known { ident: first, .. }) = known.first() else {
        return Err(syn::Error::new_spanned(
            name,
            "a Tars enum needs at least one enumerator",
        ));
    };
    if unknown.is_some() {
        // Enums with a data variant cannot use `as i32`, so every value must be spelled out.
        if let Some(k) = known.iter().find(|k| k.by_discriminant) {
            return Err(syn::Error::new_spanned(
                k.ident,
                "an open enum (one with a `#[tars(unknown)]` variant) gives values as `#[tars(value = N)]`, not as discriminants",
            ));
        }
        if let Some(k) = known.iter().find(|k| !k.by_attr) {
            return Err(syn::Error::new_spanned(
                k.ident,
                "an open enum (one with a `#[tars(unknown)]` variant) needs `#[tars(value = N)]` on every enumerator",
            ));
        }
    }
    // Two enumerators with one value would decode ambiguously.
    for (
        i,
        Known {
            ident,
            literal: value,
            ..
        },
    ) in known.iter().enumerate()
    {
        let Some(value) = value else { continue };
        if let Some(prev) = known[..i].iter().find(|k| k.literal == Some(*value)) {
            return Err(syn::Error::new_spanned(
                ident,
                format!(
                    "enumerator value {value} is already used by `{}`; declare an alias as an associated const instead",
                    prev.ident
                ),
            ));
        }
    }

    let enum_name = container
        .name
        .map(|l| l.value())
        .unwrap_or_else(|| name.to_string());
    let variants: Vec<_> = known.iter().map(|k| k.ident).collect();
    let values: Vec<_> = known.iter().map(|k| &k.expr).collect();

    let (to_unknown, from_fallback, from_i32_impl) = match unknown {
        Some(u) => {
            let u = &u.ident;
            (
                quote!(#name::#u(v) => *v,),
                quote!(::core::option::Option::Some(#name::#u(v))),
                quote! {
                    /// Every value converts: those no enumerator names become the
                    /// `#[tars(unknown)]` variant.
                    impl ::core::convert::From<i32> for #name {
                        fn from(v: i32) -> #name {
                            match <#name as #krate::TarsEnum>::from_i32(v) {
                                ::core::option::Option::Some(e) => e,
                                ::core::option::Option::None => #name::#u(v),
                            }
                        }
                    }
                },
            )
        }
        None => (quote!(), quote!(::core::option::Option::None), quote!()),
    };
    let span = Span::call_site();
    let v_ident = syn::Ident::new("v", span);

    Ok(quote! {
        impl #krate::TarsEnum for #name {
            const ENUM_NAME: &'static str = #enum_name;

            fn to_i32(&self) -> i32 {
                match self {
                    #(#name::#variants => #values,)*
                    #to_unknown
                }
            }

            fn from_i32(#v_ident: i32) -> ::core::option::Option<Self> {
                #(if #v_ident == #values {
                    return ::core::option::Option::Some(#name::#variants);
                })*
                #from_fallback
            }
        }

        impl #krate::TarsValue for #name {
            const TYPE_NAME: &'static str = #enum_name;

            #[inline]
            fn write_field(&self, w: &mut #krate::Writer, tag: u8) {
                w.write_i32(tag, #krate::TarsEnum::to_i32(self));
            }

            #[inline]
            fn read_value(
                r: &mut #krate::Reader<'_>,
                tag: u8,
                ty: #krate::WireType,
            ) -> ::core::result::Result<Self, #krate::DecodeError> {
                #krate::read_enum(r, tag, ty)
            }

            fn tars_default() -> Self {
                #name::#first
            }

            fn tup_type_name(out: &mut ::std::string::String, _style: #krate::TupTypeStyle) {
                out.push_str("int32");
            }
        }

        impl ::core::convert::From<#name> for i32 {
            fn from(v: #name) -> i32 {
                #krate::TarsEnum::to_i32(&v)
            }
        }

        #from_i32_impl
    })
}

/// Rejects literal values that do not fit the wire's Int32, and returns literal values
/// (`None` for other constant expressions, which the compiler checks).
fn check_i32(expr: &Expr) -> syn::Result<Option<i64>> {
    let (lit, negative) = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(l), ..
        }) => (l, false),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit {
                lit: Lit::Int(l), ..
            }) => (l, true),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let v: i128 = lit.base10_parse()?;
    let v = if negative { -v } else { v };
    match i32::try_from(v) {
        Ok(v) => Ok(Some(v as i64)),
        Err(_) => Err(syn::Error::new_spanned(
            expr,
            format!("enum value {v} does not fit in a Tars int (i32)"),
        )),
    }
}
