//! Expansion of `#[derive(TarsStruct)]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields};

use crate::attrs::{codec_path, container_attr, default_expr, field_attr};

struct FieldPlan<'a> {
    ident: &'a syn::Ident,
    ty: &'a syn::Type,
    tag: u8,
    require: bool,
    default: Option<TokenStream>,
}

pub fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "TarsStruct cannot be derived for generic structs",
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => &named.named,
            Fields::Unnamed(_) | Fields::Unit => {
                return Err(syn::Error::new_spanned(
                    name,
                    "TarsStruct needs a struct with named fields",
                ))
            }
        },
        Data::Enum(_) => {
            return Err(syn::Error::new_spanned(
                name,
                "TarsStruct is for structs; use #[derive(TarsEnum)] for enums",
            ))
        }
        Data::Union(_) => {
            return Err(syn::Error::new_spanned(
                name,
                "TarsStruct cannot be derived for unions",
            ))
        }
    };
    if fields.is_empty() {
        return Err(syn::Error::new_spanned(
            name,
            "a Tars struct needs at least one field",
        ));
    }

    let mut plans: Vec<FieldPlan> = Vec::with_capacity(fields.len());
    for f in fields {
        let attr = field_attr(f)?;
        let Some(ident) = f.ident.as_ref() else {
            return Err(syn::Error::new_spanned(f, "field must be named"));
        };
        if let Some(prev) = plans.iter().find(|p| p.tag == attr.tag) {
            return Err(syn::Error::new_spanned(
                ident,
                format!(
                    "duplicate tag {}: already used by field `{}`",
                    attr.tag, prev.ident
                ),
            ));
        }
        plans.push(FieldPlan {
            ident,
            ty: &f.ty,
            tag: attr.tag,
            require: attr.require,
            default: attr.default.as_ref().map(default_expr),
        });
    }
    plans.sort_by_key(|p| p.tag);

    let container = container_attr(&input.attrs, "class")?;
    let krate = codec_path(container.krate);
    let class = container
        .name
        .map(|l| l.value())
        .unwrap_or_else(|| name.to_string());

    let writes = plans.iter().map(|p| {
        let (ident, tag, ty) = (p.ident, p.tag, p.ty);
        if p.require {
            quote!(<#ty as #krate::TarsValue>::write_field(&self.#ident, w, #tag);)
        } else {
            let default = match &p.default {
                Some(d) => quote!(::core::option::Option::Some(&{ let d: #ty = #d; d })),
                None => quote!(::core::option::Option::None),
            };
            quote! {
                if !<#ty as #krate::TarsValue>::skip_optional(&self.#ident, #default) {
                    <#ty as #krate::TarsValue>::write_field(&self.#ident, w, #tag);
                }
            }
        }
    });

    // Every use of a field's type is a qualified `<T as TarsValue>::...` path, so a type that
    // is not a Tars value gets one diagnostic, not one per use.
    let reads = plans.iter().map(|p| {
        let (ident, tag, ty) = (p.ident, p.tag, p.ty);
        let absent = if p.require {
            let field_name = ident.to_string();
            quote! {
                return ::core::result::Result::Err(#krate::DecodeError::MissingRequired {
                    tag: #tag,
                    field: #field_name,
                })
            }
        } else {
            field_default(p, &krate)
        };
        quote! {
            let #ident: #ty = match r.find_field(#tag)? {
                ::core::option::Option::Some(ty) => <#ty as #krate::TarsValue>::read_value(r, #tag, ty)?,
                ::core::option::Option::None => #absent,
            };
        }
    });
    let idents: Vec<_> = plans.iter().map(|p| p.ident).collect();
    let defaults = plans.iter().map(|p| {
        let ident = p.ident;
        let value = field_default(p, &krate);
        quote!(#ident: #value)
    });

    Ok(quote! {
        impl #krate::TarsStruct for #name {
            const CLASS_NAME: &'static str = #class;

            fn write_fields(&self, w: &mut #krate::Writer) {
                #(#writes)*
            }

            fn read_fields(
                r: &mut #krate::Reader<'_>,
            ) -> ::core::result::Result<Self, #krate::DecodeError> {
                #(#reads)*
                ::core::result::Result::Ok(#name { #(#idents),* })
            }
        }

        impl #krate::TarsValue for #name {
            const TYPE_NAME: &'static str = #class;

            #[inline]
            fn write_field(&self, w: &mut #krate::Writer, tag: u8) {
                #krate::write_struct(self, w, tag);
            }

            #[inline]
            fn read_value(
                r: &mut #krate::Reader<'_>,
                tag: u8,
                ty: #krate::WireType,
            ) -> ::core::result::Result<Self, #krate::DecodeError> {
                #krate::read_struct(r, tag, ty)
            }

            fn tars_default() -> Self {
                #name { #(#defaults),* }
            }
        }
    })
}

/// The value a field takes when absent: its declared default, else its type's Tars default.
fn field_default(p: &FieldPlan<'_>, krate: &TokenStream) -> TokenStream {
    let ty = p.ty;
    match &p.default {
        Some(d) => quote!({ let d: #ty = #d; d }),
        None => quote!(<#ty as #krate::TarsValue>::tars_default()),
    }
}
