//! `loom ca`: where the local CA is, its certificate, and how to make each
//! common gRPC client trust it (one place, so that the README and the
//! command say the same).

use super::ca::LocalCa;

/// What `loom ca` prints.
pub fn guide(ca: &LocalCa) -> String {
    let cert = ca.cert_path();
    let cert = cert.display();
    format!(
        "\
Loom's local CA: {dir}
Certificate:     {cert}
(its key, ca.key, stays beside it, readable by you only; it signs a short-lived
certificate for each name a client asks the relay's listen port for)

{pem}
Make a client trust it, then point it at the relay's listen port with TLS
(by the relay's address, or by the backend's own name through /etc/hosts or
a name override, so that nothing else in the client changes):

  grpcurl    grpcurl -cacert {cert} RELAY_HOST:PORT list
  grpc-go    creds, err := credentials.NewClientTLSFromFile(\"{cert}\", \"\")
             grpc.NewClient(\"RELAY_HOST:PORT\", grpc.WithTransportCredentials(creds))
             (the name verified: the second argument, or the target's host)
  grpcio     creds = grpc.ssl_channel_credentials(open(\"{cert}\", \"rb\").read())
             grpc.secure_channel(\"RELAY_HOST:PORT\", creds,
                 options=[(\"grpc.ssl_target_name_override\", \"api.example.com\")])
             or, for every grpcio (C core) client: GRPC_DEFAULT_SSL_ROOTS_FILE_PATH={cert}
  Node       grpc.credentials.createSsl(fs.readFileSync(\"{cert}\"))  (@grpc/grpc-js)
             or, for any Node TLS client: NODE_EXTRA_CA_CERTS={cert}
  grpc-java  GrpcSslContexts.forClient().trustManager(new File(\"{cert}\")).build()
             with NettyChannelBuilder.forAddress(...).sslContext(...)
  Android    put the PEM in res/raw/loom_ca and trust it in
             res/xml/network_security_config.xml:
               <debug-overrides><trust-anchors><certificates src=\"@raw/loom_ca\"/>
               </trust-anchors></debug-overrides>
  System     (Debian/Ubuntu) sudo cp {cert} /usr/local/share/ca-certificates/loom.crt
             && sudo update-ca-certificates   (trusts it for everything: remove it when done)

To stop trusting it: remove it from where you added it. To start over with a
new CA: delete {dir}.
",
        dir = ca.dir().display(),
        pem = ca.cert_pem().trim_end(),
    )
}
