//! Expansion of `#[derive(TarsEnum)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Expr, ExprLit, ExprUnary, Fields, Lit, UnOp};

use crate::attrs::container_name;

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
    let Some(first) = data.variants.first() else {
        return Err(syn::Error::new_spanned(
            name,
            "a Tars enum needs at least one enumerator",
        ));
    };
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                &v.fields,
                "Tars enumerators cannot carry data",
            ));
        }
        if let Some((_, expr)) = &v.discriminant {
            check_i32(expr)?;
        }
    }
    let enum_name = container_name(&input.attrs, "name")?
        .map(|l| l.value())
        .unwrap_or_else(|| name.to_string());
    let first = &first.ident;
    let variants: Vec<_> = data.variants.iter().map(|v| &v.ident).collect();

    Ok(quote! {
        impl ::tars::codec::TarsEnum for #name {
            const ENUM_NAME: &'static str = #enum_name;

            fn to_i32(&self) -> i32 {
                match self {
                    #(#name::#variants => #name::#variants as i32,)*
                }
            }

            fn from_i32(v: i32) -> ::core::option::Option<Self> {
                #(if v == #name::#variants as i32 {
                    return ::core::option::Option::Some(#name::#variants);
                })*
                ::core::option::Option::None
            }
        }

        impl ::tars::codec::TarsValue for #name {
            const TYPE_NAME: &'static str = #enum_name;

            #[inline]
            fn write_field(&self, w: &mut ::tars::codec::Writer, tag: u8) {
                w.write_i32(tag, ::tars::codec::TarsEnum::to_i32(self));
            }

            #[inline]
            fn read_value(
                r: &mut ::tars::codec::Reader<'_>,
                tag: u8,
                ty: ::tars::codec::WireType,
            ) -> ::core::result::Result<Self, ::tars::codec::DecodeError> {
                ::tars::codec::read_enum(r, tag, ty)
            }

            fn tars_default() -> Self {
                #name::#first
            }
        }

        impl ::core::convert::From<#name> for i32 {
            fn from(v: #name) -> i32 {
                ::tars::codec::TarsEnum::to_i32(&v)
            }
        }
    })
}

/// Rejects literal discriminants that do not fit the wire's Int32.
fn check_i32(expr: &Expr) -> syn::Result<()> {
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
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    let v: i128 = lit.base10_parse()?;
    let v = if negative { -v } else { v };
    if i32::try_from(v).is_err() {
        return Err(syn::Error::new_spanned(
            expr,
            format!("enum value {v} does not fit in a Tars int (i32)"),
        ));
    }
    Ok(())
}
