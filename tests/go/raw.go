package main

// The raw client mode (-client TARGET -raw-method /pkg.Service/Method
// -raw-hex HEX): one unary call of any service, the request given as the
// hex of its encoded message, so that this program can call servers whose
// generated code it lacks (grpcio's loom.interop.v1.Interop). Prints
// "OK <method> 1" and the response's hex, or "FAIL <method> <code> <message>".

import (
	"context"
	"encoding/hex"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// rawCodec passes bytes through: requests and responses are *[]byte.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// runRawClient makes one unary call of method with the request in reqHex.
func runRawClient(target, method, reqHex string, timeout time.Duration) int {
	req, err := hex.DecodeString(reqHex)
	if err != nil {
		log.Printf("loom-grpc-go: -raw-hex: %v", err)
		return 2
	}
	conn, err := grpc.Dial(target, grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		log.Printf("loom-grpc-go: dial %s: %v", target, err)
		return 2
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var resp []byte
	if err := conn.Invoke(ctx, method, &req, &resp); err != nil {
		st := status.Convert(err)
		emit("FAIL %s %s %s", method, st.Code(), st.Message())
		return 1
	}
	emit("OK %s 1", method)
	emit("RESPONSE %s", hex.EncodeToString(resp))
	return 0
}
