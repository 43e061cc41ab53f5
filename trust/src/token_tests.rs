use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};

use super::*;

const READ: &str = "read-token-0123456789abcdef";
const ADMIN: &str = "admin-token-0123456789abcdef";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vigil-token-{}-{name}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

fn static_tokens(dir: &Path) -> Credentials {
    std::fs::write(dir.join("read"), format!("{READ}\n")).unwrap();
    std::fs::write(dir.join("admin"), ADMIN).unwrap();
    let tokens = [
        TokenSource {
            name: "oncall".into(),
            scope: Scope::Read,
            file: Some(dir.join("read")),
            env: None,
        },
        TokenSource {
            name: "platform".into(),
            scope: Scope::Admin,
            file: Some(dir.join("admin")),
            env: None,
        },
    ];
    Credentials::load("auth", &tokens, None).unwrap()
}

#[test]
fn a_read_token_reads_and_cannot_change_anything() {
    let creds = static_tokens(&scratch("scopes"));
    let grant = creds.authorize(Some(&bearer(READ)), Scope::Read).unwrap();
    assert_eq!(grant.who, "oncall");
    let denied = creds
        .authorize(Some(&bearer(READ)), Scope::Admin)
        .unwrap_err();
    assert!(!denied.unauthenticated(), "a 403, not a 401: {denied}");
    assert_eq!(denied.reason(), "scope");
    let admin = creds.authorize(Some(&bearer(ADMIN)), Scope::Admin).unwrap();
    assert_eq!(admin.scope, Scope::Admin);
    assert!(creds.authorize(Some(&bearer(ADMIN)), Scope::Read).is_ok());
}

#[test]
fn missing_malformed_and_unknown_tokens_are_unauthenticated() {
    let creds = static_tokens(&scratch("refused"));
    for (header, reason) in [
        (None, "missing"),
        (Some(b"Basic dXNlcjpwdw==".to_vec()), "malformed"),
        (Some(b"Bearer ".to_vec()), "malformed"),
        (Some(vec![0xff, 0xfe]), "malformed"),
        (Some(bearer("read-token-0123456789abcdeX")), "unknown"),
        // A token's prefix is not the token.
        (Some(bearer(&READ[..20])), "unknown"),
    ] {
        let denied = creds.authorize(header.as_deref(), Scope::Read).unwrap_err();
        assert!(denied.unauthenticated(), "{denied}");
        assert_eq!(denied.reason(), reason, "{header:?}");
    }
    // The scheme is case-insensitive (RFC 9110).
    assert!(
        creds
            .authorize(Some(format!("bearer {READ}").as_bytes()), Scope::Read)
            .is_ok()
    );
}

#[test]
fn a_bad_token_source_names_its_field() {
    let dir = scratch("bad");
    std::fs::write(dir.join("short"), "abc").unwrap();
    let cases = [
        (
            TokenSource {
                name: "x".into(),
                scope: Scope::Read,
                file: Some(dir.join("short")),
                env: None,
            },
            "auth.tokens[0]",
            "at least 16",
        ),
        (
            TokenSource {
                name: "x".into(),
                scope: Scope::Read,
                file: Some(dir.join("absent")),
                env: None,
            },
            "auth.tokens[0].file",
            "cannot read",
        ),
        (
            TokenSource {
                name: "x".into(),
                scope: Scope::Read,
                file: None,
                env: Some("VIGIL_TEST_TOKEN_NEVER_SET".into()),
            },
            "auth.tokens[0].env",
            "not set",
        ),
        (
            TokenSource {
                name: "x".into(),
                scope: Scope::Read,
                file: None,
                env: None,
            },
            "auth.tokens[0]",
            "exactly one",
        ),
    ];
    for (source, field, words) in cases {
        let e = Credentials::load("auth", &[source], None)
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("`{field}`")), "{e}");
        assert!(e.contains(words), "{e}");
    }
}

/// An issuer: an ES256 key, its JWKS on disk, and tokens it signs.
struct Issuer {
    key: EncodingKey,
    jwks: PathBuf,
}

impl Issuer {
    fn new(dir: &Path, kid: &str) -> Self {
        let pair = rcgen::KeyPair::generate().unwrap();
        let raw = pair.public_key_raw();
        // An uncompressed P-256 point: 0x04, then x and y.
        assert_eq!(raw.len(), 65);
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&raw[33..]),
        }]});
        let path = dir.join(format!("{kid}.jwks.json"));
        std::fs::write(&path, jwks.to_string()).unwrap();
        Self {
            key: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
            jwks: path,
        }
    }

    fn sign(&self, kid: &str, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt_config(jwks: &Path) -> JwtConfig {
    JwtConfig {
        issuer: "https://kubernetes.default.svc".into(),
        audience: "vigil".into(),
        jwks: jwks.to_path_buf(),
        subjects: [(
            "system:serviceaccount:monitoring:grafana".to_string(),
            Scope::Read,
        )]
        .into(),
        scope_claim: default_scope_claim(),
    }
}

#[test]
fn jwts_from_the_issuer_are_granted_by_subject_or_scope_claim() {
    let dir = scratch("jwt");
    let issuer = Issuer::new(&dir, "k1");
    let creds = Credentials::load("auth", &[], Some(&jwt_config(&issuer.jwks))).unwrap();
    let claims = |sub: &str, extra: serde_json::Value| {
        let mut c = serde_json::json!({
            "iss": "https://kubernetes.default.svc", "aud": "vigil",
            "sub": sub, "exp": now() + 600,
        });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    // A Kubernetes service account, granted by subject.
    let grafana = issuer.sign(
        "k1",
        claims(
            "system:serviceaccount:monitoring:grafana",
            serde_json::json!({}),
        ),
    );
    let grant = creds
        .authorize(Some(&bearer(&grafana)), Scope::Read)
        .unwrap();
    assert_eq!(grant.who, "system:serviceaccount:monitoring:grafana");
    assert_eq!(
        creds
            .authorize(Some(&bearer(&grafana)), Scope::Admin)
            .unwrap_err()
            .reason(),
        "scope"
    );
    // An OIDC user, granted by the scope claim.
    let alice = issuer.sign(
        "k1",
        claims("alice", serde_json::json!({"scope": "openid vigil:admin"})),
    );
    assert!(creds.authorize(Some(&bearer(&alice)), Scope::Admin).is_ok());
    // Known issuer, no scope: refused, and the reason says why.
    let nobody = issuer.sign("k1", claims("bob", serde_json::json!({})));
    let e = creds
        .authorize(Some(&bearer(&nobody)), Scope::Read)
        .unwrap_err();
    assert!(
        e.unauthenticated() && e.to_string().contains("no Vigil scope"),
        "{e}"
    );
}

#[test]
fn expired_foreign_and_misaddressed_jwts_are_refused() {
    let dir = scratch("jwt-bad");
    let issuer = Issuer::new(&dir, "k1");
    let stranger = Issuer::new(&dir, "k2");
    let creds = Credentials::load("auth", &[], Some(&jwt_config(&issuer.jwks))).unwrap();
    let sub = "system:serviceaccount:monitoring:grafana";
    let good = serde_json::json!({
        "iss": "https://kubernetes.default.svc", "aud": "vigil", "sub": sub, "exp": now() + 600,
    });
    let with = |key: &str, value: serde_json::Value| {
        let mut c = good.clone();
        c[key] = value;
        c
    };
    let cases = [
        (
            "expired",
            issuer.sign("k1", with("exp", (now() - 3600).into())),
        ),
        (
            "other audience",
            issuer.sign("k1", with("aud", "other".into())),
        ),
        (
            "other issuer",
            issuer.sign("k1", with("iss", "https://evil".into())),
        ),
        // Signed by a key the JWKS does not hold, claiming its kid.
        ("foreign key", stranger.sign("k1", good.clone())),
        ("unknown kid", stranger.sign("k2", good.clone())),
    ];
    for (what, token) in cases {
        let e = creds
            .authorize(Some(&bearer(&token)), Scope::Read)
            .unwrap_err();
        assert_eq!(e.reason(), "invalid", "{what}: {e}");
    }
    // A shared-secret token "signed" with the public JWKS is not accepted.
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good,
        &EncodingKey::from_secret(std::fs::read(&issuer.jwks).unwrap().as_slice()),
    )
    .unwrap();
    let e = creds
        .authorize(Some(&bearer(&hs)), Scope::Read)
        .unwrap_err();
    assert!(e.to_string().contains("not accepted"), "{e}");
    // And the good one passes, so the refusals above are about what changed.
    let ok = issuer.sign("k1", good);
    assert!(creds.authorize(Some(&bearer(&ok)), Scope::Read).is_ok());
}

#[test]
fn random_tokens_are_long_distinct_and_accepted() {
    let (a, b) = (random_token().unwrap(), random_token().unwrap());
    assert_eq!(a.len(), 64);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    assert_ne!(a, b, "two draws gave the same token");
    let dir = scratch("random");
    std::fs::write(dir.join("t"), &a).unwrap();
    let source = TokenSource {
        name: "demo".into(),
        scope: Scope::Admin,
        file: Some(dir.join("t")),
        env: None,
    };
    let credentials = Credentials::load("auth", &[source], None).unwrap();
    let grant = credentials
        .authorize(Some(&bearer(&a)), Scope::Admin)
        .expect("a random token loads and is granted");
    assert_eq!(grant.who, "demo");
}
