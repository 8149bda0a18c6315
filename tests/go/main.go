// Command loom-grpc-go is a grpc-go test server (and, with -client, a test
// client) for Loom's integration tests.
//
// The Rust tests start it as a child process so the relay is exercised
// against a gRPC implementation that is not tonic. It serves, in plaintext
// HTTP/2 (or over TLS: see below) on -addr (default 127.0.0.1:0, an ephemeral port):
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
// Other request metadata that shapes a call (for the tests of how calls end):
//
//	x-delay-ms: N     wait N ms before each response message (a unary call:
//	                  before its response). A client's cancel cuts the wait
//	                  short; the server's own deadline does not, so a late
//	                  call never ends with the server's DEADLINE_EXCEEDED
//	                  racing the client's reset.
//	x-after: N        the action below happens before response message N+1
//	                  (default 0: before any response). A call that sends
//	                  fewer messages than that sees no action.
//	x-stop: graceful  then GracefulStop the whole server (GOAWAY; the call
//	                  and any others still running complete; no new calls).
//	x-stop: abrupt    then Stop the whole server (every connection closed at
//	                  once, without GOAWAY; the call dies with it).
//	x-reset: <code>   then reset the stream (RST_STREAM). grpc-go's own
//	                  transport has no way to send RST_STREAM on demand, so
//	                  this needs -http-server, where the reset comes from Go's
//	                  x/net/http2 server and its code is always INTERNAL_ERROR
//	                  (2) whatever <code> asks; without it the call fails
//	                  with FAILED_PRECONDITION.
//
// -http-server serves through grpc.Server.ServeHTTP on golang.org/x/net/http2
// (prior-knowledge HTTP/2 on each accepted connection) instead of grpc-go's
// own HTTP/2 transport. x-stop is not available there.
//
// TLS: -tls-cert FILE -tls-key FILE serve TLS instead of plaintext
// (credentials.NewTLS: ALPN h2; with -http-server the listener does the
// handshake, ALPN h2, before x/net/http2), and -tls-client-ca FILE requires
// a client certificate signed by a CA in FILE (RequireAndVerifyClientCert).
//
// Stdout protocol (one line per event, written immediately; nothing else):
//
//	PORT <n>                       once, when listening
//	REFLECTION <full method name>  a reflection stream was opened
//	CALL <full method name>        an application call (unary or stream)
//	CANCELLED <full method name>   an application call's handler returned
//	                               after the call was cancelled (a client's
//	                               RST_STREAM, or its connection closing)
//
// Diagnostics go to stderr. The process exits when stdin reaches EOF (so it
// cannot outlive the test that started it) or on SIGTERM/SIGINT.
//
// Client mode: loom-grpc-go -client TARGET [-tls-ca FILE [-server-name N]
// [-tls-cert FILE -tls-key FILE]] [-timeout D] makes one call of each kind
// of grpc.testing.TestService against a loom-grpc-go server at TARGET (or a
// relay in front of one), one after the other, each with deadline D
// (default 10s): UnaryCall, StreamingOutputCall (3 responses),
// StreamingInputCall (3 requests) and FullDuplexCall (3 ping-pongs). No
// -tls-ca: plaintext. -tls-ca: TLS (ALPN h2) trusting the CA certificates
// in FILE, verifying the name N (default: TARGET's host, which grpc-go
// also sends as SNI and :authority; with N, N is both), and presenting
// -tls-cert when given. Calls never wait for the connection to be ready, so
// a failed handshake fails each call at once (UNAVAILABLE, the handshake's
// error in the message). Stdout, one line each:
//
//	OK <full method name> <responses received>
//	FAIL <full method name> <code name> <message>
//	TLS version=<TLS1.3> alpn=<h2, or - for none> server=<leaf's CN>
//	                               after the first call, when it saw TLS
//	TLS none                       after the first call, otherwise
//
// The exit code is 0 when every call succeeded, 1 when any failed, 2 on
// bad flags. Client mode reads no stdin.
//
// Build (GOPATH mode, no network): tests/go/build.sh [output].
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
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
	httpServer      = flag.Bool("http-server", false, "serve through ServeHTTP on golang.org/x/net/http2 instead of grpc-go's transport")
	clientTarget    = flag.String("client", "", "client mode: make one call of each kind against this target, then exit")
	callTimeout     = flag.Duration("timeout", 10*time.Second, "client mode: each call's deadline")
	rawMethod       = flag.String("raw-method", "", "client mode: instead, one unary call of this method (/pkg.Service/Method)")
	rawHex          = flag.String("raw-hex", "", "client mode with -raw-method: the request message, encoded, in hex")
)

// server is the one grpc.Server, for x-stop.
var server *grpc.Server

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

// controls is what a call's metadata asks of it (see the package comment).
type controls struct {
	delay time.Duration
	after int
	stop  string
}

func (c controls) acts() bool { return c.stop != "" }

func readControls(ctx context.Context) (controls, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	var c controls
	number := func(key string) (int, error) {
		v := md.Get(key)
		if len(v) == 0 {
			return 0, nil
		}
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 0 {
			return 0, status.Errorf(codes.InvalidArgument, "loom grpc-go: bad %s %q", key, v[0])
		}
		return n, nil
	}
	ms, err := number("x-delay-ms")
	if err != nil {
		return c, err
	}
	c.delay = time.Duration(ms) * time.Millisecond
	if c.after, err = number("x-after"); err != nil {
		return c, err
	}
	if v := md.Get("x-stop"); len(v) > 0 {
		c.stop = strings.TrimSpace(v[0])
		if c.stop != "graceful" && c.stop != "abrupt" {
			return c, status.Errorf(codes.InvalidArgument, "loom grpc-go: bad x-stop %q", v[0])
		}
		if *httpServer {
			return c, status.Error(codes.FailedPrecondition, "loom grpc-go: x-stop needs grpc-go's own transport (not -http-server)")
		}
	}
	if v := md.Get("x-reset"); len(v) > 0 {
		sw, ok := ctx.Value(resetKey{}).(*resetSwitch)
		if !ok {
			return c, status.Error(codes.FailedPrecondition, "loom grpc-go: x-reset needs -http-server")
		}
		// Before the handler sends anything, so no write can pass it.
		sw.arm(c.after)
	}
	return c, nil
}

// pause waits d, or less if the client cancels the call; a deadline that
// passes meanwhile does not end the wait.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
	}
	if ctx.Err() == context.Canceled {
		return status.FromContextError(ctx.Err()).Err()
	}
	<-timer.C
	return nil
}

// act does the call's x-stop. After a stop it waits for the call's end:
// Stop cancels it, GracefulStop lets it go on (nil). (x-reset is armed at
// the call's start: see resetSwitch.)
func act(ctx context.Context, c controls) error {
	switch {
	case c.stop == "graceful":
		log.Printf("loom-grpc-go: x-stop: GracefulStop")
		go server.GracefulStop()
	case c.stop == "abrupt":
		log.Printf("loom-grpc-go: x-stop: Stop")
		// Stop waits for the handlers, this one included: not from here.
		go server.Stop()
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	return nil
}

func unaryInterceptor(ctx context.Context, req interface{}, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (interface{}, error) {
	emit("CALL %s", info.FullMethod)
	if err := deliberateFailure(ctx); err != nil {
		return nil, err
	}
	c, err := readControls(ctx)
	if err != nil {
		return nil, err
	}
	defer noteCancel(ctx, info.FullMethod)
	if err := pause(ctx, c.delay); err != nil {
		return nil, err
	}
	if c.acts() && c.after == 0 {
		if err := act(ctx, c); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// noteCancel prints CANCELLED when the call's context was cancelled (not
// timed out) by the time its handler returned.
func noteCancel(ctx context.Context, method string) {
	if ctx.Err() == context.Canceled {
		emit("CANCELLED %s", method)
	}
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
	c, err := readControls(ss.Context())
	if err != nil {
		return err
	}
	defer noteCancel(ss.Context(), info.FullMethod)
	if c.delay > 0 || c.acts() {
		ss = &controlledStream{ServerStream: ss, controls: c}
	}
	return handler(srv, ss)
}

// controlledStream applies x-delay-ms, and x-stop or x-reset, to each
// response message it sends.
type controlledStream struct {
	grpc.ServerStream
	controls
	sent int
}

func (s *controlledStream) SendMsg(m interface{}) error {
	ctx := s.Context()
	if err := pause(ctx, s.delay); err != nil {
		return err
	}
	if s.acts() && s.sent == s.after {
		if err := act(ctx, s.controls); err != nil {
			return err
		}
	}
	s.sent++
	return s.ServerStream.SendMsg(m)
}

// resetSwitch, in -http-server mode, once armed with N, makes the first
// write after N flushes of its request's response (grpc-go flushes once
// per message, and once for the trailers) panic with http.ErrAbortHandler:
// x/net/http2 then resets the stream (RST_STREAM INTERNAL_ERROR) instead of
// sending it. Writes happen in the ServeHTTP goroutine, in order, so the
// count is exact.
type resetSwitch struct {
	armed   int32
	after   int32
	flushes int32
}

type resetKey struct{}

func (s *resetSwitch) arm(after int) {
	atomic.StoreInt32(&s.after, int32(after))
	atomic.StoreInt32(&s.armed, 1)
}

func (s *resetSwitch) due() bool {
	return atomic.LoadInt32(&s.armed) == 1 && atomic.LoadInt32(&s.flushes) >= atomic.LoadInt32(&s.after)
}

type resettableWriter struct {
	http.ResponseWriter
	sw *resetSwitch
}

func (w *resettableWriter) Write(p []byte) (int, error) {
	if w.sw.due() {
		log.Printf("loom-grpc-go: x-reset: aborting the stream")
		panic(http.ErrAbortHandler)
	}
	return w.ResponseWriter.Write(p)
}

func (w *resettableWriter) Flush() {
	if w.sw.due() {
		log.Printf("loom-grpc-go: x-reset: aborting the stream")
		panic(http.ErrAbortHandler)
	}
	w.ResponseWriter.(http.Flusher).Flush()
	atomic.AddInt32(&w.sw.flushes, 1)
}

// resettableHandler is s.ServeHTTP with x-reset's switch on each request.
func resettableHandler(s *grpc.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &resetSwitch{}
		ctx := context.WithValue(r.Context(), resetKey{}, sw)
		s.ServeHTTP(&resettableWriter{ResponseWriter: w, sw: sw}, r.WithContext(ctx))
	})
}

// serveHTTP2 serves s through ServeHTTP on x/net/http2: prior knowledge,
// or behind TLS (ALPN h2) when cfg is not nil. A TLS connection's handshake
// completes before x/net/http2 sees it, which checks the negotiated version
// and cipher suite first.
func serveHTTP2(lis net.Listener, s *grpc.Server, cfg *tls.Config) {
	h2 := &http2.Server{}
	handler := resettableHandler(s)
	for {
		conn, err := lis.Accept()
		if err != nil {
			return
		}
		go func() {
			if cfg != nil {
				tc := tls.Server(conn, cfg)
				if err := tc.Handshake(); err != nil {
					log.Printf("loom-grpc-go: TLS handshake from %s: %v", conn.RemoteAddr(), err)
					conn.Close()
					return
				}
				conn = tc
			}
			h2.ServeConn(conn, &http2.ServeConnOpts{Handler: handler})
		}()
	}
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
	if *clientTarget != "" && *rawMethod != "" {
		os.Exit(runRawClient(*clientTarget, *rawMethod, *rawHex, *callTimeout))
	}
	if *clientTarget != "" {
		os.Exit(runClient(*clientTarget, *callTimeout))
	}
	tlsConfig, err := serverTLS()
	if err != nil {
		log.Printf("loom-grpc-go: %v", err)
		os.Exit(2)
	}

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("loom-grpc-go: listen %s: %v", *addr, err)
	}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(unaryInterceptor), grpc.StreamInterceptor(streamInterceptor)}
	if tlsConfig != nil && !*httpServer {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	s := grpc.NewServer(opts...)
	server = s
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
		if *httpServer {
			serveHTTP2(lis, s, tlsConfig)
			return
		}
		// After x-stop, Serve returns nil and the process waits for stdin.
		if err := s.Serve(lis); err != nil {
			log.Fatalf("loom-grpc-go: serve: %v", err)
		}
	}()
	log.Printf("loom-grpc-go: exiting (%s)", <-done)
	lis.Close()
	s.Stop()
}
