package main

// The client mode (-client TARGET): one call of each kind of
// grpc.testing.TestService. See the package comment in main.go.

import (
	"context"
	"fmt"
	"io"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	pb "google.golang.org/grpc/test/grpc_testing"
)

const (
	methodUnary        = "/grpc.testing.TestService/UnaryCall"
	methodServerStream = "/grpc.testing.TestService/StreamingOutputCall"
	methodClientStream = "/grpc.testing.TestService/StreamingInputCall"
	methodBidi         = "/grpc.testing.TestService/FullDuplexCall"
	// How many messages the streaming calls send or ask for.
	clientStreamCount = 3
	// Every response payload's size.
	clientPayload = 8
)

// runClient makes the four calls against target; the process's exit code.
func runClient(target string, timeout time.Duration) int {
	cfg, err := clientTLS()
	if err != nil {
		log.Printf("loom-grpc-go: %v", err)
		return 2
	}
	opts := []grpc.DialOption{grpc.WithInsecure()}
	if cfg != nil {
		// credentials.NewTLS adds ALPN h2 to the configuration.
		opts = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	}
	conn, err := grpc.Dial(target, opts...)
	if err != nil {
		log.Printf("loom-grpc-go: dial %s: %v", target, err)
		return 2
	}
	defer conn.Close()
	client := pb.NewTestServiceClient(conn)
	var seen peer.Peer
	calls := []struct {
		method string
		call   func(ctx context.Context) (int, error)
	}{
		{methodUnary, func(ctx context.Context) (int, error) {
			_, err := client.UnaryCall(ctx, &pb.SimpleRequest{ResponseSize: clientPayload}, grpc.Peer(&seen))
			if err != nil {
				return 0, err
			}
			return 1, nil
		}},
		{methodServerStream, func(ctx context.Context) (int, error) {
			req := &pb.StreamingOutputCallRequest{}
			for i := 0; i < clientStreamCount; i++ {
				req.ResponseParameters = append(req.ResponseParameters, &pb.ResponseParameters{Size: clientPayload})
			}
			stream, err := client.StreamingOutputCall(ctx, req)
			if err != nil {
				return 0, err
			}
			return receiveAll(stream.Recv)
		}},
		{methodClientStream, func(ctx context.Context) (int, error) {
			stream, err := client.StreamingInputCall(ctx)
			if err != nil {
				return 0, err
			}
			for i := 0; i < clientStreamCount; i++ {
				if err := stream.Send(&pb.StreamingInputCallRequest{Payload: payload(pb.PayloadType_COMPRESSABLE, clientPayload)}); err != nil {
					// The status comes from CloseAndRecv.
					break
				}
			}
			resp, err := stream.CloseAndRecv()
			if err != nil {
				return 0, err
			}
			if got := resp.GetAggregatedPayloadSize(); got != clientStreamCount*clientPayload {
				return 0, fmt.Errorf("the server counted %d payload bytes", got)
			}
			return 1, nil
		}},
		{methodBidi, func(ctx context.Context) (int, error) {
			stream, err := client.FullDuplexCall(ctx)
			if err != nil {
				return 0, err
			}
			// Ping-pong: each request asks for one response, read before
			// the next request goes.
			n := 0
			for i := 0; i < clientStreamCount; i++ {
				req := &pb.StreamingOutputCallRequest{ResponseParameters: []*pb.ResponseParameters{{Size: clientPayload}}}
				if err := stream.Send(req); err != nil {
					break
				}
				if _, err := stream.Recv(); err != nil {
					return n, err
				}
				n++
			}
			if err := stream.CloseSend(); err != nil {
				return n, err
			}
			more, err := receiveAll(stream.Recv)
			return n + more, err
		}},
	}
	failed := 0
	for i, c := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		n, err := c.call(ctx)
		cancel()
		if err != nil {
			st := status.Convert(err)
			emit("FAIL %s %s %s", c.method, st.Code(), st.Message())
			failed++
		} else {
			emit("OK %s %d", c.method, n)
		}
		if i == 0 {
			printTLS(seen)
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// receiveAll reads until the end of the stream: how many messages, and the
// call's error if it did not end OK.
func receiveAll(recv func() (*pb.StreamingOutputCallResponse, error)) (int, error) {
	n := 0
	for {
		_, err := recv()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// printTLS prints what the first call's connection negotiated:
// "TLS version=TLS1.3 alpn=h2 server=<leaf's common name>", or "TLS none"
// when the call saw no TLS connection (plaintext, or no connection at all).
func printTLS(p peer.Peer) {
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		emit("TLS none")
		return
	}
	alpn := info.State.NegotiatedProtocol
	if alpn == "" {
		alpn = "-"
	}
	server := "-"
	if certs := info.State.PeerCertificates; len(certs) > 0 {
		server = certs[0].Subject.CommonName
	}
	emit("TLS version=%s alpn=%s server=%s", tlsVersion(info.State.Version), alpn, server)
}
