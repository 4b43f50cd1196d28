//! Parsing of `#[tars(...)]` attributes.

use syn::{spanned::Spanned, Attribute, Expr, ExprLit, Lit, LitStr};

/// What a field's `#[tars(...)]` attribute says.
pub struct FieldAttr {
    pub tag: u8,
    pub require: bool,
    pub default: Option<Expr>,
}

/// What a container's `#[tars(...)]` attributes say.
pub struct ContainerAttr {
    /// The Tars name (`class = "..."` on structs, `name = "..."` on enums).
    pub name: Option<LitStr>,
    /// `crate = "path"`: where the codec lives, for code that renames or re-exports it.
    pub krate: Option<syn::Path>,
}

/// Parses the container attributes `#[tars(<name_key> = "...", crate = "path")]`.
pub fn container_attr(attrs: &[Attribute], name_key: &str) -> syn::Result<ContainerAttr> {
    let mut out = ContainerAttr {
        name: None,
        krate: None,
    };
    for attr in attrs.iter().filter(|a| a.path().is_ident("tars")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(name_key) {
                if out.name.is_some() {
                    return Err(meta.error(format!("duplicate `{name_key}`")));
                }
                out.name = Some(meta.value()?.parse::<LitStr>()?);
                Ok(())
            } else if meta.path.is_ident("crate") {
                if out.krate.is_some() {
                    return Err(meta.error("duplicate `crate`"));
                }
                let lit = meta.value()?.parse::<LitStr>()?;
                out.krate = Some(lit.parse::<syn::Path>().map_err(|_| {
                    syn::Error::new(lit.span(), "`crate` must be a path, like \"tars_codec\"")
                })?);
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown tars attribute; expected `{name_key} = \"...\"` or `crate = \"...\"`"
                )))
            }
        })?;
    }
    Ok(out)
}

/// The path through which the generated code names the codec: the `crate = "..."` attribute,
/// else `tars` or `tars-codec` as the calling crate's manifest names them (renames included),
/// else `::tars_codec`. Both crates expose the whole codec at their root. `tars` comes first:
/// a crate built on the runtime may list `tars-codec` among its dev-dependencies only, which
/// its library cannot see (the manifest does not say which section a dependency is in).
pub fn codec_path(explicit: Option<syn::Path>) -> proc_macro2::TokenStream {
    use proc_macro_crate::{crate_name, FoundCrate};
    if let Some(path) = explicit {
        return quote::quote!(#path);
    }
    for (package, lib) in [("tars", "tars"), ("tars-codec", "tars_codec")] {
        match crate_name(package) {
            // Inside the crate itself (its tests, examples and doctests included), the crate
            // is reachable by its own name: both declare `extern crate self as <name>`.
            Ok(FoundCrate::Itself) => {
                let ident = proc_macro2::Ident::new(lib, proc_macro2::Span::call_site());
                return quote::quote!(::#ident);
            }
            Ok(FoundCrate::Name(name)) => {
                let ident = proc_macro2::Ident::new(&name, proc_macro2::Span::call_site());
                return quote::quote!(::#ident);
            }
            Err(_) => continue,
        }
    }
    quote::quote!(::tars_codec)
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
