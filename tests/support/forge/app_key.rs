//! A fixed RSA key pair for GitHub App tests: the private half is what the app (ferry) signs
//! its JWTs with, the public half is what [`super::ForgeServer::register_github_app`] verifies
//! them against. Generated once with `openssl genrsa -traditional 2048`; it protects nothing.

/// The app's private key, PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), as GitHub hands it out.
pub const APP_PRIVATE_KEY_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIIEogIBAAKCAQEAh2kj8A6kGeQWuZGQ1GV6uwtEMw/W9KxeH6CVUHwgaYElrOpI\n\
RxjZwFtu/kaOuRvaz0+oBGHX/sicsJuyDutkMJjlsXOvM1N6wpUGhUtEB7sqdhI9\n\
CjqCkb9mjvq332kxdek/z0Wi5bA8ges4inuplbb8yL7Be8f4rHxf2UBaGzYmuG6l\n\
6zWPW58qTMuF2JjuWlc9Y78jDHnfGEmD59X+Znj1PUbSaTMLhw4i1PHZdivr3B1C\n\
YZBne1BF6cQgHGBzyWx+b+7sMamvRt4XIwhRUnpbH2SOmj/5I6QRd4QdUdyqSSv6\n\
9NQUjUPeRcoWfq/0KghU0b/MpE44211zkibDIQIDAQABAoIBAAqm0WIikLONruDx\n\
i6o9glJA0GBQ5GiSP4Qu4lf2r6kE9PT9Z+qZ0JUyTBCZ9cOnZoasvit8E9zRpIu6\n\
755/Uz4EZPsYvcUkkbFJPj5RfZw7E5u+kwkhMaCr5PIl1D1xfafIDZItKON3Acd5\n\
fJTeJeimQIu8/6TQReYxkWuaRYxC0K1qmTVFDUieeEZPTYZ2FfHyKqhtAsOPZlIC\n\
8pM3+AhF6+nxoPfN0Yi9DfdrklWcKSsbp0598BktoR2JbKfD2/C+pZ5UDhIEsvC2\n\
Zu5uyAVt22F1FjOdO3nF3b5Ib+aj0u0UFuY9rYcqNx83t1kXtASrOmtTWdOxqmzo\n\
Hf2O2x0CgYEAu97imCF/dPWVVZ5sfHX/WLB2sGXK9Q1TTc49GupVNv3jx6PSiXZF\n\
HWEt2v6lmEnMmC15hB+tfhYYGE6D5+ukRsGIDFHeKYqo3YKF6FUpio1Wmpud8OvA\n\
IUM3ToblpouW51pyagy/3W4g4fZQc3TiNYNd+2qsYrK8KqOvnL3mmrUCgYEAuIQY\n\
uqeFb33fxpB5I+O0nZ6mHEN0U0+s8sXFUfpVzL9Gkox0QIkE7hVC1FI3wgoe9MWt\n\
axj+QaT+dfmTEIQ8Bd7IlPqJ9L3IbBir+UfrV5zC4ON+VKY/O80KjKGg+ZhQrtaX\n\
GrqJ5EZd7Y2LHP7mtHCzHAjyqCAzKlUy3a+GDj0CgYAIZ6xTigwdu2726aOI3e6S\n\
lTJ6KdOuqu3zKSrqrVkqoKk0IUwmAjiNW++lQIdADO0uUbqCArjMT0i8raaRFaW/\n\
1KC1jGQYD7AGWPSMtGKrZC9fs16ZjLKHym4LAVX84Xna190OiYt76JVoBpEK2UvV\n\
gQ8PVHJp5/0rGy+cH5LVkQKBgB5oJmscEDE/XREr3cq8S5dt/ZHKy/CuwKGBVfMc\n\
fecv3kFoRAAelGFnv4udwPKJGHDd4qYziDLpLcXjSwj9waZ2ADgM0Y8zd0PZDP4X\n\
jAD0JGlLFBZ/DwybzZE/UXfQUft+AYi2FOM5dWEgYjx1BS/XIq0MDHEIXWYshCVk\n\
N4NBAoGAXC9JMHNKLkqqLnWhyRI5JDVY0SBtjxNXEMOf4rg4NaxLQ383FNA6sj/2\n\
Z26PMZpn2a8VpaSpgNMCQ6YZo8HkQfOC6wEkpiXJPsJcouea9GgntQ77CrH/6aXe\n\
4v2gdotFDU2/xwcbMI2MuFstxqE5m5N6b5qyrqRbVXy4v3VCZQg=\n\
-----END RSA PRIVATE KEY-----\n";

/// The app's public key, SPKI PEM (`BEGIN PUBLIC KEY`).
pub const APP_PUBLIC_KEY_PEM: &str = "\
-----BEGIN PUBLIC KEY-----\n\
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAh2kj8A6kGeQWuZGQ1GV6\n\
uwtEMw/W9KxeH6CVUHwgaYElrOpIRxjZwFtu/kaOuRvaz0+oBGHX/sicsJuyDutk\n\
MJjlsXOvM1N6wpUGhUtEB7sqdhI9CjqCkb9mjvq332kxdek/z0Wi5bA8ges4inup\n\
lbb8yL7Be8f4rHxf2UBaGzYmuG6l6zWPW58qTMuF2JjuWlc9Y78jDHnfGEmD59X+\n\
Znj1PUbSaTMLhw4i1PHZdivr3B1CYZBne1BF6cQgHGBzyWx+b+7sMamvRt4XIwhR\n\
UnpbH2SOmj/5I6QRd4QdUdyqSSv69NQUjUPeRcoWfq/0KghU0b/MpE44211zkibD\n\
IQIDAQAB\n\
-----END PUBLIC KEY-----\n";

/// A JWT for GitHub App `app_id` signed with [`APP_PRIVATE_KEY_PEM`] (RS256), issued at `iat`
/// and expiring at `exp` (Unix seconds): what an app sends to get an installation token.
pub fn app_jwt(app_id: u64, iat: i64, exp: i64) -> String {
    use rsa::pkcs1::DecodeRsaPrivateKey as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};

    let (_, der) = super::util::pem_decode(APP_PRIVATE_KEY_PEM).expect("fixture key is PEM");
    let key = rsa::RsaPrivateKey::from_pkcs1_der(&der).expect("fixture key is PKCS#1");
    let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(key);
    let header = super::util::base64url_encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({"iat": iat, "exp": exp, "iss": app_id.to_string()});
    let payload = super::util::base64url_encode(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let signature = signer.sign(input.as_bytes()).to_vec();
    format!("{input}.{}", super::util::base64url_encode(&signature))
}
