// Command loom-bench-go is the grpc-go backend of Loom's benchmark
// (scripts/bench.sh), beside the tonic one (`loom-bench backend`).
//
// It serves loom.test.v1.Probe (tests/proto/loom/test/v1/probe.proto) in
// plaintext HTTP/2 on -addr (default 127.0.0.1:0), answering exactly as the
// tonic backend (tests/src/backend.rs) does, with the same bytes on the wire,
// so `loom-bench load` drives either one unchanged:
//
//   - Unary: text "echo: <text>", blob reply_size bytes of 0xab (or the
//     request's blob when reply_size is 0);
//   - ServerStream: count replies (0: until cancelled), reply i with a blob
//     of reply_size bytes of i%251 and index i, delay_ms apart; response
//     header x-stream: server;
//   - ClientStream: requests, blob_bytes and the texts joined by ",";
//   - Bidi: one reply per request, text "echo: <text>", the request's blob,
//     index i.
//
// A request with fail_code != 0 fails with that code and fail_message.
// Not served (the benchmark does not use them): the grpc_timeout and echoed
// reply fields, echoed x- headers, status details, compression.
//
// There is no protoc here: the service is registered by hand (a
// grpc.ServiceDesc whose handlers are grpc-go's ordinary unary and streaming
// paths) with a codec named "proto" that passes []byte through, and the few
// protobuf fields are encoded and decoded below, in field order and skipping
// default values as prost does.
//
// Stdout: "PORT <n>" once, when listening. Exits when stdin reaches EOF (so
// it cannot outlive the script that started it) or on SIGTERM/SIGINT.
//
// Build (GOPATH mode, no network): tests/go/build.sh --bench [output].
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var addr = flag.String("addr", "127.0.0.1:0", "listen address")

// rawCodec replaces grpc-go's "proto" codec: messages are []byte, already
// encoded.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	m, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	// grpc-go 1.33 allocates each received message afresh: no copy needed.
	*m = data
	return nil
}

// request is the part of loom.test.v1.ProbeRequest the backend reads.
type request struct {
	text        string // 1
	blob        []byte // 2
	count       uint64 // 3
	replySize   uint64 // 4
	failCode    uint64 // 5
	failMessage string // 6
	delayMs     uint64 // 7
}

var errMalformed = errors.New("malformed ProbeRequest")

func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

func decodeRequest(b []byte) (request, error) {
	var r request
	for len(b) > 0 {
		key, n := varint(b)
		if n == 0 {
			return r, errMalformed
		}
		b = b[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			v, n := varint(b)
			if n == 0 {
				return r, errMalformed
			}
			b = b[n:]
			switch field {
			case 3:
				r.count = uint64(uint32(v))
			case 4:
				r.replySize = uint64(uint32(v))
			case 5:
				r.failCode = uint64(uint32(v))
			case 7:
				r.delayMs = v
			}
		case 2:
			l, n := varint(b)
			if n == 0 || uint64(len(b)-n) < l {
				return r, errMalformed
			}
			v := b[n : n+int(l)]
			b = b[n+int(l):]
			switch field {
			case 1:
				r.text = string(v)
			case 2:
				r.blob = v
			case 6:
				r.failMessage = string(v)
			}
		case 1:
			if len(b) < 8 {
				return r, errMalformed
			}
			b = b[8:]
		case 5:
			if len(b) < 4 {
				return r, errMalformed
			}
			b = b[4:]
		default:
			return r, errMalformed
		}
	}
	return r, nil
}

func recvRequest(stream grpc.ServerStream) (request, error) {
	var in []byte
	if err := stream.RecvMsg(&in); err != nil {
		return request{}, err
	}
	req, err := decodeRequest(in)
	if err != nil {
		return req, status.Error(codes.InvalidArgument, err.Error())
	}
	return req, nil
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// reply is the part of loom.test.v1.ProbeReply the backend writes.
type reply struct {
	text      string // 1
	blobLen   int    // 2: blobLen bytes, each fill, unless blob is set
	blobFill  byte
	blob      []byte
	index     uint64 // 3
	requests  uint64 // 6
	blobBytes uint64 // 7
}

// encode writes the reply as prost would: fields in number order, default
// values left out.
func (r reply) encode() []byte {
	size := 0
	if r.text != "" {
		size += 1 + varintLen(uint64(len(r.text))) + len(r.text)
	}
	blobLen := r.blobLen
	if r.blob != nil {
		blobLen = len(r.blob)
	}
	if blobLen > 0 {
		size += 1 + varintLen(uint64(blobLen)) + blobLen
	}
	for _, v := range []uint64{r.index, r.requests, r.blobBytes} {
		if v != 0 {
			size += 1 + varintLen(v)
		}
	}
	b := make([]byte, 0, size)
	if r.text != "" {
		b = append(b, 1<<3|2)
		b = appendVarint(b, uint64(len(r.text)))
		b = append(b, r.text...)
	}
	if blobLen > 0 {
		b = append(b, 2<<3|2)
		b = appendVarint(b, uint64(blobLen))
		if r.blob != nil {
			b = append(b, r.blob...)
		} else {
			start := len(b)
			b = b[:start+blobLen]
			fill := b[start:]
			for i := range fill {
				fill[i] = r.blobFill
			}
		}
	}
	if r.index != 0 {
		b = append(b, 3<<3|0)
		b = appendVarint(b, r.index)
	}
	if r.requests != 0 {
		b = append(b, 6<<3|0)
		b = appendVarint(b, r.requests)
	}
	if r.blobBytes != 0 {
		b = append(b, 7<<3|0)
		b = appendVarint(b, r.blobBytes)
	}
	return b
}

func failure(req request) error {
	if req.failCode == 0 {
		return nil
	}
	return status.Error(codes.Code(req.failCode), req.failMessage)
}

func unary(_ interface{}, _ context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	req, err := decodeRequest(in)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := failure(req); err != nil {
		return nil, err
	}
	out := reply{text: "echo: " + req.text}
	if req.replySize > 0 {
		out.blobLen, out.blobFill = int(req.replySize), 0xab
	} else {
		out.blob = req.blob
	}
	return out.encode(), nil
}

func serverStream(_ interface{}, stream grpc.ServerStream) error {
	req, err := recvRequest(stream)
	if err != nil {
		return err
	}
	if err := failure(req); err != nil {
		return err
	}
	if err := stream.SetHeader(metadata.Pairs("x-stream", "server")); err != nil {
		return err
	}
	for i := uint64(0); req.count == 0 || i < req.count; i++ {
		out := reply{text: req.text, blobLen: int(req.replySize), blobFill: byte(i % 251), index: i}
		if err := stream.SendMsg(out.encode()); err != nil {
			return err
		}
		if req.delayMs > 0 {
			select {
			case <-time.After(time.Duration(req.delayMs) * time.Millisecond):
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
		}
	}
	return nil
}

func clientStream(_ interface{}, stream grpc.ServerStream) error {
	var out reply
	var texts []string
	for {
		req, err := recvRequest(stream)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := failure(req); err != nil {
			return err
		}
		out.requests++
		out.blobBytes += uint64(len(req.blob))
		texts = append(texts, req.text)
	}
	out.text = strings.Join(texts, ",")
	return stream.SendMsg(out.encode())
}

func bidi(_ interface{}, stream grpc.ServerStream) error {
	for i := uint64(0); ; i++ {
		req, err := recvRequest(stream)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		out := reply{text: "echo: " + req.text, blob: req.blob, index: i}
		if err := stream.SendMsg(out.encode()); err != nil {
			return err
		}
	}
}

// probe is loom.test.v1.Probe as protoc-gen-go would describe it, with
// handlers that take and return encoded messages.
var probe = grpc.ServiceDesc{
	ServiceName: "loom.test.v1.Probe",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Unary", Handler: unary}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", Handler: serverStream, ServerStreams: true},
		{StreamName: "ClientStream", Handler: clientStream, ClientStreams: true},
		{StreamName: "Bidi", Handler: bidi, ServerStreams: true, ClientStreams: true},
	},
	Metadata: "loom/test/v1/probe.proto",
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("loom-bench-go: ")
	encoding.RegisterCodec(rawCodec{})

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	// As the tonic backend: messages up to 64 MiB either way.
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64<<20), grpc.MaxSendMsgSize(64<<20))
	srv.RegisterService(&probe, struct{}{})
	fmt.Printf("PORT %d\n", lis.Addr().(*net.TCPAddr).Port)

	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		done <- struct{}{}
	}()
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		done <- struct{}{}
	}()
	go func() {
		<-done
		srv.Stop()
	}()
	if err := srv.Serve(lis); err != nil && err != grpc.ErrServerStopped {
		log.Fatalf("serve: %v", err)
	}
}
