//! Parsing of `#[tars(...)]` attributes.

use syn::{spanned::Spanned, Attribute, Expr, ExprLit, Lit, LitStr};

/// What a field's `#[tars(...)]` attribute says.
pub struct FieldAttr {
    pub tag: u8,
    pub require: bool,
    pub default: Option<Expr>,
}

/// Parses a container attribute of the form `#[tars(<key> = "string")]`.
pub fn container_name(attrs: &[Attribute], key: &str) -> syn::Result<Option<LitStr>> {
    let mut out = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("tars")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                if out.is_some() {
                    return Err(meta.error(format!("duplicate `{key}`")));
                }
                out = Some(meta.value()?.parse::<LitStr>()?);
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown tars attribute; expected `{key} = \"...\"`"
                )))
            }
        })?;
    }
    Ok(out)
}

/// Parses the `#[tars(tag = N, require|optional, default = EXPR)]` attribute of a field.
pub fn field_attr(field: &syn::Field) -> syn::Result<FieldAttr> {
    let mut tag: Option<u8> = None;
    let mut require: Option<(bool, proc_macro2::Span)> = None;
    let mut default: Option<Expr> = None;
    let mut seen = false;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("tars")) {
        seen = true;
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("tag") {
                if tag.is_some() {
                    return Err(meta.error("duplicate `tag`"));
                }
                let lit: syn::LitInt = meta.value()?.parse()?;
                let v: u64 = lit.base10_parse()?;
                if v > 255 {
                    return Err(syn::Error::new(
                        lit.span(),
                        format!("tag {v} is out of range: tags are 0..=255"),
                    ));
                }
                tag = Some(v as u8);
                Ok(())
            } else if meta.path.is_ident("require") || meta.path.is_ident("optional") {
                let is_req = meta.path.is_ident("require");
                if let Some((prev, _)) = require {
                    let msg = if prev == is_req {
                        "duplicate `require`/`optional`"
                    } else {
                        "a field cannot be both `require` and `optional`"
                    };
                    return Err(meta.error(msg));
                }
                require = Some((is_req, meta.path.span()));
                Ok(())
            } else if meta.path.is_ident("default") {
                if default.is_some() {
                    return Err(meta.error("duplicate `default`"));
                }
                default = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown tars field attribute; expected `tag = N`, `require`, `optional` or `default = EXPR`",
                ))
            }
        })?;
    }
    let name_span = field
        .ident
        .as_ref()
        .map_or_else(|| field.span(), |i| i.span());
    if !seen {
        return Err(syn::Error::new(
            name_span,
            "field needs a `#[tars(tag = N)]` attribute",
        ));
    }
    let tag = tag.ok_or_else(|| syn::Error::new(name_span, "missing `tag = N` in #[tars(...)]"))?;
    Ok(FieldAttr {
        tag,
        require: require.is_some_and(|(r, _)| r),
        default,
    })
}

/// Turns a declared default into an expression of the field's type: string literals go
/// through `From` (so `default = "x"` works for `String`); anything else is used as written.
pub fn default_expr(expr: &Expr) -> proc_macro2::TokenStream {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => quote::quote!(::core::convert::From::from(#s)),
        other => quote::quote!(#other),
    }
}
