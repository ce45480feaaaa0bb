//! The manifest data a pack carries (parsed and validated from `sentrie.pack.toml` by the
//! compiler; stored as is in compiled packs).

/// The validated manifest. Only what the engine uses is kept typed.
#[derive(Clone, Debug, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// Environment variables user modules may read (`permissions.env`).
    pub env: Vec<String>,
    /// JSON pointers of fact values the decision log masks (`decision_log.mask`).
    pub decision_log_mask: Vec<String>,
    /// `strict = true`: warnings are load errors.
    pub strict: bool,
}
