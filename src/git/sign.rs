//! PLACEHOLDER until the signing module lands (replaced by the real implementation).
#![allow(dead_code, missing_docs, clippy::all)]
use std::path::PathBuf;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format { Ssh, Gpg }
pub enum KeySource { File(PathBuf), Inline(secrecy::SecretString), KeyId(String) }
#[derive(Debug)]
pub struct Signer;
#[derive(Debug, thiserror::Error)]
#[error("signing is not available yet")]
pub struct SignError;
impl Signer {
    pub fn new(_format: Format, _key: KeySource) -> Result<Signer, SignError> { Err(SignError) }
    pub fn sign(&self, _commit: &[u8]) -> Result<String, SignError> { Err(SignError) }
    pub fn describe(&self) -> String { String::new() }
}
