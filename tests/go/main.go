// Command loom-grpc-go is a grpc-go test server for Loom's integration tests.
//
// The Rust tests start it as a child process so the relay is exercised
// against a gRPC implementation that is not tonic. It serves, in plaintext
// HTTP/2 on -addr (default 127.0.0.1:0, an ephemeral port):
//
//   - grpc.testing.TestService (grpc-go's generated test protos), every
//     method deterministic: payload bodies are byte i%251 for i in 0..size;
//   - grpc.health.v1.Health, SERVING for "" and grpc.testing.TestService;
//   - grpc-go's server reflection (grpc.reflection.v1alpha only in grpc-go
//     1.33), unless -no-reflection. -reflection-delay D makes every
//     reflection stream wait D before sending its first response.
//
// Any application call (not reflection) whose metadata has "x-fail: <code>"
// fails with that status code and message "loom grpc-go: deliberate failure".
//
// Stdout protocol (one line per event, written immediately; nothing else):
//
//	PORT <n>                       once, when listening
//	REFLECTION <full method name>  a reflection stream was opened
//	CALL <full method name>        an application call (unary or stream)
//
// Diagnostics go to stderr. The process exits when stdin reaches EOF (so it
// cannot outlive the test that started it) or on SIGTERM/SIGINT.
//
// Build (GOPATH mode, no network): tests/go/build.sh [output].
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	pb "google.golang.org/grpc/test/grpc_testing"
)

var (
	addr            = flag.String("addr", "127.0.0.1:0", "listen address")
	reflectionDelay = flag.Duration("reflection-delay", 0, "delay before each reflection stream's first response")
	noReflection    = flag.Bool("no-reflection", false, "do not register server reflection")
)

// stdoutMu keeps each protocol line whole; os.Stdout is unbuffered.
var stdoutMu sync.Mutex

func emit(format string, args ...interface{}) {
	stdoutMu.Lock()
	defer stdoutMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// payload returns size bytes of the deterministic pattern i%251.
func payload(t pb.PayloadType, size int32) *pb.Payload {
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i % 251)
	}
	return &pb.Payload{Type: t, Body: body}
}

type testServer struct {
	pb.UnimplementedTestServiceServer
}

func (testServer) EmptyCall(context.Context, *pb.Empty) (*pb.Empty, error) {
	return &pb.Empty{}, nil
}

func (testServer) UnaryCall(_ context.Context, req *pb.SimpleRequest) (*pb.SimpleResponse, error) {
	resp := &pb.SimpleResponse{Payload: payload(req.GetResponseType(), req.GetResponseSize())}
	if req.GetFillUsername() {
		resp.Username = "loom-go"
	}
	if req.GetFillOauthScope() {
		resp.OauthScope = "scope"
	}
	return resp, nil
}

// respond sends one response per response_parameters entry of req.
func respond(req *pb.StreamingOutputCallRequest, send func(*pb.StreamingOutputCallResponse) error) error {
	for _, p := range req.GetResponseParameters() {
		if us := p.GetIntervalUs(); us > 0 {
			time.Sleep(time.Duration(us) * time.Microsecond)
		}
		if err := send(&pb.StreamingOutputCallResponse{Payload: payload(req.GetResponseType(), p.GetSize())}); err != nil {
			return err
		}
	}
	return nil
}

func (testServer) StreamingOutputCall(req *pb.StreamingOutputCallRequest, stream pb.TestService_StreamingOutputCallServer) error {
	return respond(req, stream.Send)
}

func (testServer) StreamingInputCall(stream pb.TestService_StreamingInputCallServer) error {
	var total int32
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&pb.StreamingInputCallResponse{AggregatedPayloadSize: total})
		}
		if err != nil {
			return err
		}
		total += int32(len(req.GetPayload().GetBody()))
	}
}

func (testServer) FullDuplexCall(stream pb.TestService_FullDuplexCallServer) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := respond(req, stream.Send); err != nil {
			return err
		}
	}
}

func (testServer) HalfDuplexCall(stream pb.TestService_HalfDuplexCallServer) error {
	var reqs []*pb.StreamingOutputCallRequest
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		reqs = append(reqs, req)
	}
	for _, req := range reqs {
		if err := respond(req, stream.Send); err != nil {
			return err
		}
	}
	return nil
}

// deliberateFailure returns the error asked for by an "x-fail" header, if any.
func deliberateFailure(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("x-fail")
	if len(v) == 0 {
		return nil
	}
	code, err := strconv.Atoi(strings.TrimSpace(v[0]))
	if err != nil || code <= 0 || code > 16 {
		return status.Errorf(codes.InvalidArgument, "loom grpc-go: bad x-fail %q", v[0])
	}
	return status.Error(codes.Code(code), "loom grpc-go: deliberate failure")
}

func unaryInterceptor(ctx context.Context, req interface{}, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (interface{}, error) {
	emit("CALL %s", info.FullMethod)
	if err := deliberateFailure(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func streamInterceptor(srv interface{}, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if strings.HasPrefix(info.FullMethod, "/grpc.reflection.") {
		emit("REFLECTION %s", info.FullMethod)
		if *reflectionDelay > 0 {
			ss = &delayedStream{ServerStream: ss}
		}
		return handler(srv, ss)
	}
	emit("CALL %s", info.FullMethod)
	if err := deliberateFailure(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}

// delayedStream sleeps -reflection-delay before its first SendMsg.
type delayedStream struct {
	grpc.ServerStream
	once sync.Once
}

func (d *delayedStream) SendMsg(m interface{}) error {
	d.once.Do(func() { time.Sleep(*reflectionDelay) })
	return d.ServerStream.SendMsg(m)
}

func main() {
	flag.Parse()
	log.SetOutput(os.Stderr)

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("loom-grpc-go: listen %s: %v", *addr, err)
	}
	s := grpc.NewServer(grpc.UnaryInterceptor(unaryInterceptor), grpc.StreamInterceptor(streamInterceptor))
	pb.RegisterTestServiceServer(s, testServer{})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("grpc.testing.TestService", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, hs)
	if !*noReflection {
		reflection.Register(s)
	}

	emit("PORT %d", lis.Addr().(*net.TCPAddr).Port)

	// Exit on stdin EOF (the parent died or closed the pipe) or on a signal.
	done := make(chan string, 2)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		done <- "stdin EOF"
	}()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		done <- (<-sig).String()
	}()
	go func() {
		if err := s.Serve(lis); err != nil {
			log.Fatalf("loom-grpc-go: serve: %v", err)
		}
	}()
	log.Printf("loom-grpc-go: exiting (%s)", <-done)
	s.Stop()
}
