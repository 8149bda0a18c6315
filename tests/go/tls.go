package main

// TLS for the server (-tls-cert, -tls-key, -tls-client-ca) and the client
// mode (-tls-ca, -server-name, -tls-cert, -tls-key). See the package
// comment in main.go.

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io/ioutil"
)

var (
	tlsCert     = flag.String("tls-cert", "", "certificate chain (PEM): the server's, or in client mode the client's")
	tlsKey      = flag.String("tls-key", "", "the -tls-cert certificate's private key (PEM)")
	tlsClientCA = flag.String("tls-client-ca", "", "server: require a client certificate signed by a CA in this PEM file")
	tlsCA       = flag.String("tls-ca", "", "client mode: speak TLS, trusting the CA certificates in this PEM file")
	serverName  = flag.String("server-name", "", "client mode: the name to verify in the server's certificate and send as SNI (default: the target's host)")
)

// certPool reads every PEM certificate of file.
func certPool(file string) (*x509.CertPool, error) {
	pem, err := ioutil.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificate in %s", file)
	}
	return pool, nil
}

// serverTLS is the server's TLS configuration, or nil without -tls-cert.
func serverTLS() (*tls.Config, error) {
	if *tlsCert == "" && *tlsKey == "" {
		if *tlsClientCA != "" {
			return nil, fmt.Errorf("-tls-client-ca needs -tls-cert and -tls-key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %v", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	if *tlsClientCA != "" {
		pool, err := certPool(*tlsClientCA)
		if err != nil {
			return nil, fmt.Errorf("-tls-client-ca: %v", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// clientTLS is the client mode's TLS configuration, or nil without -tls-ca.
func clientTLS() (*tls.Config, error) {
	if *tlsCA == "" {
		return nil, nil
	}
	pool, err := certPool(*tlsCA)
	if err != nil {
		return nil, fmt.Errorf("-tls-ca: %v", err)
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: *serverName}
	if *tlsCert != "" || *tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert/-tls-key: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// tlsVersion names a TLS version as the tests expect it ("TLS1.3"); Go 1.19
// has no tls.VersionName.
func tlsVersion(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLS1.0"
	case tls.VersionTLS11:
		return "TLS1.1"
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return fmt.Sprintf("0x%04x", v)
}
