//! Loading: reading root files and everything they `#include`, each file once, with include
//! search paths, cycle detection and a record of every path read.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::ast;
use crate::check::check;
use crate::diagnostic::{Diagnostic, Diagnostics, ErrorKind};
use crate::model::{Program, SourceFile};
use crate::parse::parse_file;
use crate::source::{FileId, Source};

/// Where the loader reads files from: the real file system ([`RealFs`]) or memory
/// ([`MemoryFs`], for tests and generated IDL).
pub trait FileSystem {
    /// The whole file as UTF-8 text.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;

    /// Whether `path` names a readable file.
    fn is_file(&self, path: &Path) -> bool;

    /// A key that is equal for two paths naming the same file (used to load each file once
    /// and to detect include cycles). Defaults to the lexically normalised path.
    fn identity(&self, path: &Path) -> PathBuf {
        normalize(path)
    }
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl FileSystem for RealFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| normalize(path))
    }
}

/// Files held in memory, keyed by (lexically normalised) path.
#[derive(Debug, Clone, Default)]
pub struct MemoryFs {
    files: BTreeMap<PathBuf, String>,
}

impl MemoryFs {
    /// An empty file system.
    pub fn new() -> MemoryFs {
        MemoryFs::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, text: impl Into<String>) -> &mut MemoryFs {
        self.files.insert(normalize(path.as_ref()), text.into());
        self
    }
}

impl FileSystem for MemoryFs {
    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(&normalize(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    }

    fn is_file(&self, path: &Path) -> bool {
        self.files.contains_key(&normalize(path))
    }
}

/// Removes `.` components and folds `dir/..` pairs, without touching the file system.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !matches!(
                    out.components().next_back(),
                    Some(Component::RootDir | Component::Prefix(_))
                ) {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Deepest chain of nested `#include`s accepted.
pub const MAX_INCLUDE_DEPTH: usize = 200;

/// One load: root files, include directories, everything read, and the checks.
///
/// ```no_run
/// let mut session = tars_idlc::Session::new();
/// session.include_dir("idl/common");
/// session.load("idl/QueryF.tars");
/// for path in session.files_read() {
///     println!("cargo:rerun-if-changed={}", path.display());
/// }
/// let program = session.check().unwrap_or_else(|e| panic!("{e}"));
/// # let _ = program;
/// ```
#[derive(Debug)]
pub struct Session<F: FileSystem = RealFs> {
    fs: F,
    include_dirs: Vec<PathBuf>,
    sources: Vec<Source>,
    asts: Vec<Option<ast::File>>,
    includes: Vec<Vec<FileId>>,
    roots: Vec<FileId>,
    by_identity: HashMap<PathBuf, FileId>,
    /// Files in post-order: every file after the files it includes.
    order: Vec<FileId>,
    files_read: Vec<PathBuf>,
    diagnostics: Vec<Diagnostic>,
}

impl Default for Session<RealFs> {
    fn default() -> Self {
        Session::new()
    }
}

impl Session<RealFs> {
    /// A session reading the real file system.
    pub fn new() -> Session<RealFs> {
        Session::with_fs(RealFs)
    }
}

impl<F: FileSystem> Session<F> {
    /// A session reading files from `fs`.
    pub fn with_fs(fs: F) -> Session<F> {
        Session {
            fs,
            include_dirs: Vec::new(),
            sources: Vec::new(),
            asts: Vec::new(),
            includes: Vec::new(),
            roots: Vec::new(),
            by_identity: HashMap::new(),
            order: Vec::new(),
            files_read: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    /// Adds a directory searched for `#include "name"` when `name` is not found next to the
    /// including file. Directories are searched in the order added.
    pub fn include_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.include_dirs.push(normalize(dir.as_ref()));
        self
    }

    /// Loads a root file and (recursively) what it includes. Files already loaded are not read
    /// again. Errors are kept for [`check`](Session::check); returns the file's id when it
    /// could be read.
    pub fn load(&mut self, path: impl AsRef<Path>) -> Option<FileId> {
        let path = normalize(path.as_ref());
        let id = match self.by_identity.get(&self.fs.identity(&path)) {
            Some(&id) => id,
            None => self.visit(path, &mut Vec::new(), None)?,
        };
        if !self.roots.contains(&id) {
            self.roots.push(id);
        }
        Some(id)
    }

    /// Every path read so far, in reading order (for cargo `rerun-if-changed`); also valid when
    /// loading or checking failed.
    pub fn files_read(&self) -> &[PathBuf] {
        &self.files_read
    }

    /// The diagnostics of loading and parsing so far.
    pub fn load_errors(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Checks everything loaded and returns the resolved program, or every error found
    /// (loading and syntax errors first; semantic checks run only when all files parsed).
    pub fn check(&self) -> Result<Program, Diagnostics> {
        if !self.diagnostics.is_empty() {
            return Err(Diagnostics(self.diagnostics.clone()));
        }
        let files: Vec<(FileId, &ast::File)> = self
            .order
            .iter()
            .filter_map(|&id| self.asts.get(id.index())?.as_ref().map(|a| (id, a)))
            .collect();
        let modules = check(&self.sources, &files).map_err(Diagnostics)?;
        let files = self
            .sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let id = FileId(u32::try_from(i).unwrap_or(u32::MAX));
                SourceFile {
                    id,
                    path: s.path.clone(),
                    includes: self.includes.get(i).cloned().unwrap_or_default(),
                    is_root: self.roots.contains(&id),
                }
            })
            .collect();
        Ok(Program {
            files,
            modules,
            files_read: self.files_read.clone(),
        })
    }

    /// Reads, parses and registers `path`, then its includes (depth first). `stack` holds the
    /// files being loaded (for cycle detection); `from` is the including file and directive.
    fn visit(
        &mut self,
        path: PathBuf,
        stack: &mut Vec<FileId>,
        from: Option<(FileId, ast::Include)>,
    ) -> Option<FileId> {
        let text = match self.fs.read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                let kind = ErrorKind::ReadFile {
                    path: path.clone(),
                    message: e.to_string(),
                };
                let d = match &from {
                    Some((f, inc)) => self.diag_at(*f, inc.span, kind),
                    None => Diagnostic::new(kind),
                };
                self.diagnostics.push(d);
                return None;
            }
        };
        self.files_read.push(path.clone());
        let text = text
            .strip_prefix('\u{feff}')
            .map(str::to_owned)
            .unwrap_or(text);
        let id = FileId(u32::try_from(self.sources.len()).unwrap_or(u32::MAX));
        self.by_identity.insert(self.fs.identity(&path), id);
        let source = Source::new(path, text);
        let parsed = parse_file(&source, id);
        self.sources.push(source);
        self.includes.push(Vec::new());
        let ast = match parsed {
            Ok(a) => a,
            Err(errors) => {
                self.diagnostics.extend(errors);
                self.asts.push(None);
                self.order.push(id);
                return Some(id);
            }
        };
        let directives = ast.includes.clone();
        self.asts.push(Some(ast));
        stack.push(id);
        for inc in directives {
            if let Some(child) = self.include(id, &inc, stack) {
                if let Some(list) = self.includes.get_mut(id.index()) {
                    list.push(child);
                }
            }
        }
        stack.pop();
        self.order.push(id);
        Some(id)
    }

    /// Resolves and loads one `#include` of file `from`.
    fn include(
        &mut self,
        from: FileId,
        inc: &ast::Include,
        stack: &mut Vec<FileId>,
    ) -> Option<FileId> {
        let base = self
            .sources
            .get(from.index())
            .and_then(|s| s.path.parent())
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        // The including file's directory, then the include directories; a directory named
        // twice (an include dir that is also the file's own) is searched and reported once.
        let mut searched: Vec<PathBuf> = Vec::new();
        let mut searched_dirs: Vec<PathBuf> = Vec::new();
        for dir in std::iter::once(&base).chain(&self.include_dirs) {
            let identity = self.fs.identity(dir);
            if !searched_dirs.contains(&identity) {
                searched_dirs.push(identity);
                searched.push(normalize(&dir.join(&inc.path)));
            }
        }
        let Some(found) = searched.iter().find(|p| self.fs.is_file(p)).cloned() else {
            let notes = searched
                .iter()
                .map(|p| format!("searched {}", p.display()))
                .collect();
            let mut d = self.diag_at(
                from,
                inc.span,
                ErrorKind::IncludeNotFound {
                    name: inc.path.clone(),
                    searched,
                },
            );
            d.notes = notes;
            self.diagnostics.push(d);
            return None;
        };
        if let Some(&existing) = self.by_identity.get(&self.fs.identity(&found)) {
            if let Some(pos) = stack.iter().position(|&f| f == existing) {
                let mut chain: Vec<String> =
                    stack[pos..].iter().map(|&f| self.display(f)).collect();
                chain.push(self.display(existing));
                let kind = ErrorKind::IncludeCycle {
                    cycle: chain.join(" -> "),
                };
                let d = self.diag_at(from, inc.span, kind);
                self.diagnostics.push(d);
                return None;
            }
            return Some(existing);
        }
        if stack.len() >= MAX_INCLUDE_DEPTH {
            let kind = ErrorKind::IncludeTooDeep {
                limit: MAX_INCLUDE_DEPTH,
            };
            let d = self.diag_at(from, inc.span, kind);
            self.diagnostics.push(d);
            return None;
        }
        self.visit(found, stack, Some((from, inc.clone())))
    }

    fn display(&self, f: FileId) -> String {
        self.sources
            .get(f.index())
            .map(|s| s.path.display().to_string())
            .unwrap_or_default()
    }

    fn diag_at(&self, file: FileId, span: crate::source::Span, kind: ErrorKind) -> Diagnostic {
        match self.sources.get(file.index()) {
            Some(s) => Diagnostic::at(s, span, kind),
            None => Diagnostic::new(kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(
            normalize(Path::new("a/./b/../c.tars")),
            PathBuf::from("a/c.tars")
        );
        assert_eq!(
            normalize(Path::new("../x/../../y")),
            PathBuf::from("../../y")
        );
        assert_eq!(normalize(Path::new("/../a")), PathBuf::from("/a"));
        assert_eq!(normalize(Path::new("./")), PathBuf::from("."));
    }
}
