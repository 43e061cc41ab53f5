//! Who may ask: the bearer credential on a request to the query or admin
//! APIs, turned into a [`Grant`] (who, and with which [`Scope`]) or a
//! [`Denial`] (why not).
//!
//! Two kinds of credential: static tokens (from files or the environment,
//! kept only as SHA-256 digests and compared in constant time, so neither
//! timing nor a memory dump of the config gives one away), and JWTs signed by
//! a configured issuer whose public keys are in a JWKS file (Kubernetes
//! service-account tokens, an OIDC provider's tokens). Owns parsing and
//! verifying. It must not know which route needs which scope: the servers
//! decide that and map a denial to 401/403 or `UNAUTHENTICATED` /
//! `PERMISSION_DENIED`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use ring::digest::{SHA256, digest};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::TrustError;

/// What a credential allows. `Admin` includes `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read the tree, nodes, faults and the change stream.
    Read,
    /// Also change things: inject and restore faults in the demo, and any
    /// admin action the aggregator gains.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    /// Whether holding `self` allows what `needed` protects.
    pub fn covers(self, needed: Scope) -> bool {
        self >= needed
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One static token: `{name, scope, file | env}`. The name is who it is in
/// logs; the token itself is never logged.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSource {
    /// Who holds it (`oncall`, `grafana`), shown in logs and counters.
    pub name: String,
    pub scope: Scope,
    /// A file holding the token (a mounted Kubernetes secret); reloaded
    /// when it changes. Surrounding whitespace is ignored.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// An environment variable holding the token, read at start.
    #[serde(default)]
    pub env: Option<String>,
}

/// `jwt:`: tokens signed by one issuer, verified against its public keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The `iss` the tokens must carry.
    pub issuer: String,
    /// The `aud` the tokens must carry (one of, when a list).
    pub audience: String,
    /// The issuer's public keys, a JWKS file (`{"keys": [...]}`); reloaded
    /// when it changes. RSA, EC and Ed25519 keys; shared-secret (HS*)
    /// tokens are refused.
    pub jwks: PathBuf,
    /// Scopes by subject (`sub`): how a Kubernetes service account
    /// (`system:serviceaccount:NAMESPACE:NAME`) is granted one.
    #[serde(default)]
    pub subjects: BTreeMap<String, Scope>,
    /// The claim holding OAuth scopes (a space-separated string or a list);
    /// `vigil:read` and `vigil:admin` grant the scopes of those names.
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
}

fn default_scope_claim() -> String {
    "scope".to_string()
}

/// Who a credential says the caller is, and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// A token's name, or a JWT's subject.
    pub who: String,
    pub scope: Scope,
}

/// Why a request was refused. [`Denial::unauthenticated`] tells 401 from 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error(
        "no bearer token: send `Authorization: Bearer TOKEN` (vigil reads VIGIL_TOKEN or --token-file)"
    )]
    Missing,
    #[error("the Authorization header is not `Bearer TOKEN`")]
    Malformed,
    #[error("the bearer token is not one this server knows")]
    Unknown,
    #[error("the bearer token is refused: {0}")]
    Invalid(String),
    #[error("{who} holds scope {has}; this needs {needs}")]
    Scope {
        who: String,
        has: Scope,
        needs: Scope,
    },
}

impl Denial {
    /// No usable credential (401, `UNAUTHENTICATED`), as opposed to a valid
    /// one that does not allow this (403, `PERMISSION_DENIED`).
    pub fn unauthenticated(&self) -> bool {
        !matches!(self, Denial::Scope { .. })
    }

    /// A short label for counters.
    pub fn reason(&self) -> &'static str {
        match self {
            Denial::Missing => "missing",
            Denial::Malformed => "malformed",
            Denial::Unknown => "unknown",
            Denial::Invalid(_) => "invalid",
            Denial::Scope { .. } => "scope",
        }
    }
}

struct KnownToken {
    name: String,
    scope: Scope,
    digest: [u8; 32],
}

struct JwtVerifier {
    config: JwtConfig,
    keys: JwkSet,
}

/// The credentials a server accepts, built from its config.
pub struct Credentials {
    tokens: Vec<KnownToken>,
    jwt: Option<JwtVerifier>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: digests are not for logs either.
        f.debug_struct("Credentials")
            .field(
                "tokens",
                &self.tokens.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .field("jwt_issuer", &self.jwt.as_ref().map(|j| &j.config.issuer))
            .finish()
    }
}

/// A fresh random bearer token: 32 bytes from the system's CSPRNG, as 64
/// hex characters (for the demo and for `vigil certs`-style set-ups).
pub fn random_token() -> Result<String, TrustError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TrustError::Credential {
            field: "token".into(),
            message: "the system's random number generator failed".into(),
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// Why a token or JWKS source cannot be used; always names the field.
fn config_error(field: String, message: String) -> TrustError {
    TrustError::Credential { field, message }
}

impl Credentials {
    /// Reads every token and the JWKS now. `field` prefixes the config
    /// fields errors name (`auth`).
    pub fn load(
        field: &str,
        tokens: &[TokenSource],
        jwt: Option<&JwtConfig>,
    ) -> Result<Self, TrustError> {
        let mut known = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            let at = format!("{field}.tokens[{i}]");
            let secret = match (&t.file, &t.env) {
                (Some(file), None) => std::fs::read_to_string(file).map_err(|e| {
                    config_error(
                        format!("{at}.file"),
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?,
                (None, Some(var)) => std::env::var(var).map_err(|_| {
                    config_error(
                        format!("{at}.env"),
                        format!("environment variable {var} is not set"),
                    )
                })?,
                _ => {
                    return Err(config_error(
                        at,
                        "give exactly one of `file` and `env`".into(),
                    ));
                }
            };
            let secret = secret.trim();
            if secret.len() < 16 {
                return Err(config_error(
                    at,
                    format!(
                        "token {} is {} characters; use at least 16 random ones (`openssl rand -hex 32`)",
                        t.name,
                        secret.len()
                    ),
                ));
            }
            known.push(KnownToken {
                name: t.name.clone(),
                scope: t.scope,
                digest: sha256(secret.as_bytes()),
            });
        }
        let jwt = match jwt {
            Some(config) => Some(JwtVerifier {
                keys: read_jwks(&format!("{field}.jwt.jwks"), &config.jwks)?,
                config: config.clone(),
            }),
            None => None,
        };
        Ok(Self { tokens: known, jwt })
    }

    /// The files to watch for changes.
    pub fn files(tokens: &[TokenSource], jwt: Option<&JwtConfig>) -> Vec<PathBuf> {
        tokens
            .iter()
            .filter_map(|t| t.file.clone())
            .chain(jwt.map(|j| j.jwks.clone()))
            .collect()
    }

    /// Whether any credential is configured at all.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.jwt.is_none()
    }

    /// Checks an `Authorization` header's value against what `needs`.
    pub fn authorize(&self, header: Option<&[u8]>, needs: Scope) -> Result<Grant, Denial> {
        let grant = self.authenticate(header)?;
        if grant.scope.covers(needs) {
            Ok(grant)
        } else {
            Err(Denial::Scope {
                who: grant.who,
                has: grant.scope,
                needs,
            })
        }
    }

    fn authenticate(&self, header: Option<&[u8]>) -> Result<Grant, Denial> {
        let header = header.ok_or(Denial::Missing)?;
        let header = std::str::from_utf8(header).map_err(|_| Denial::Malformed)?;
        let (kind, token) = header.trim().split_once(' ').ok_or(Denial::Malformed)?;
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(Denial::Malformed);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(Denial::Malformed);
        }
        let presented = sha256(token.as_bytes());
        // Every known token is compared, so the time taken says nothing
        // about which one (if any) matched.
        let mut found: Option<&KnownToken> = None;
        for known in &self.tokens {
            if bool::from(known.digest.ct_eq(&presented)) {
                found = Some(known);
            }
        }
        if let Some(known) = found {
            return Ok(Grant {
                who: known.name.clone(),
                scope: known.scope,
            });
        }
        match &self.jwt {
            // Three dot-separated parts: a JWT, judged as one.
            Some(jwt) if token.split('.').count() == 3 => jwt.verify(token),
            _ => Err(Denial::Unknown),
        }
    }
}

fn read_jwks(field: &str, file: &Path) -> Result<JwkSet, TrustError> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        config_error(
            field.to_string(),
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    let keys: JwkSet = serde_json::from_str(&text).map_err(|e| {
        config_error(
            field.to_string(),
            format!(
                "{} is not a JWKS (`{{\"keys\": [...]}}`): {e}",
                file.display()
            ),
        )
    })?;
    if keys.keys.is_empty() {
        return Err(config_error(
            field.to_string(),
            format!("{} holds no keys", file.display()),
        ));
    }
    Ok(keys)
}

/// Signature algorithms accepted: public-key ones only. A shared-secret
/// algorithm would let anyone holding the (public) JWKS mint tokens.
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl JwtVerifier {
    fn verify(&self, token: &str) -> Result<Grant, Denial> {
        let invalid = |why: String| Denial::Invalid(why);
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("not a JWT: {e}")))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(invalid(format!(
                "algorithm {:?} is not accepted (public-key algorithms only)",
                header.alg
            )));
        }
        let jwk = match &header.kid {
            Some(kid) => self.keys.find(kid),
            None if self.keys.keys.len() == 1 => self.keys.keys.first(),
            None => None,
        }
        .ok_or_else(|| invalid("signed by no key in the configured JWKS".into()))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(format!("unusable key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| invalid(e.to_string()))?;
        let claims = data.claims;
        let who = claims.sub.clone().unwrap_or_else(|| "jwt".to_string());
        let from_subject = claims
            .sub
            .as_ref()
            .and_then(|s| self.config.subjects.get(s).copied());
        let from_claim = claims
            .rest
            .get(&self.config.scope_claim)
            .map(scopes_in)
            .unwrap_or_default()
            .into_iter()
            .max();
        match from_subject.max(from_claim) {
            Some(scope) => Ok(Grant { who, scope }),
            None => Err(invalid(format!(
                "{who} is granted no Vigil scope (no `vigil:read`/`vigil:admin` in `{}`, and not in `jwt.subjects`)",
                self.config.scope_claim
            ))),
        }
    }
}

/// The Vigil scopes in an OAuth scope claim: a space-separated string or a
/// list of strings.
fn scopes_in(claim: &serde_json::Value) -> Vec<Scope> {
    let words: Vec<&str> = match claim {
        serde_json::Value::String(s) => s.split_whitespace().collect(),
        serde_json::Value::Array(items) => items.iter().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    };
    words
        .into_iter()
        .filter_map(|w| match w {
            "vigil:read" => Some(Scope::Read),
            "vigil:admin" => Some(Scope::Admin),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
