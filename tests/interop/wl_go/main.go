// wl_go: a grpc-go client (Debian's golang-google-grpc-dev, built offline in
// GOPATH mode by tests/interop/wl_go.sh) for cairn-agent's Workload API,
// using code generated from shared/proto/workload.proto by protoc-gen-go and
// protoc-gen-go-grpc. grpc-go is the stack go-spiffe and SPIRE use, and the
// strictest of the clients about HTTP/2 and gRPC framing.
//
//	wl-go-client SOCKET SPIFFE_ID [FEDERATED_TD]
//
// SPIFFE_ID is the identity the server holds for this process's uid.
// FEDERATED_TD is the trust domain its entry federates with (default
// spiffe://fed.example, as cairn-wl-server is run; "-" for none, as with a
// real cairn-agent in integration.agent_wl). Prints TAP lines and
// "N passed, N failed".
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "cairnwl/wlpb"
)

const ownTD = "spiffe://example.org"

var fedTD = "spiffe://fed.example"

// tds: the trust domains expected in bundle maps (own, then federated).
func tds() string {
	if fedTD == "" {
		return "[" + ownTD + "]"
	}
	return "[" + ownTD + " " + fedTD + "]"
}

// feds: the keys expected in federated_bundles.
func feds() string {
	if fedTD == "" {
		return "[]"
	}
	return "[" + fedTD + "]"
}

var passed, failed int

func check(ok bool, format string, args ...interface{}) bool {
	msg := fmt.Sprintf(format, args...)
	if ok {
		passed++
		fmt.Println("ok -", msg)
	} else {
		failed++
		fmt.Println("not ok -", msg)
	}
	return ok
}

func withHeader(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "workload.spiffe.io", "true")
}

func codeOf(err error) (codes.Code, string) {
	st, _ := status.FromError(err)
	return st.Code(), st.Message()
}

// verifySVID checks the chain against the bundle with crypto/x509, the URI
// SAN and the PKCS#8 key; returns the leaf's serial.
func verifySVID(s *pb.X509SVID) (string, error) {
	chain, err := x509.ParseCertificates(s.X509Svid)
	if err != nil || len(chain) == 0 {
		return "", fmt.Errorf("chain: %v", err)
	}
	roots, err := x509.ParseCertificates(s.Bundle)
	if err != nil || len(roots) == 0 {
		return "", fmt.Errorf("bundle: %v", err)
	}
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: pool,
		Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return "", fmt.Errorf("verify: %v", err)
	}
	if len(chain[0].URIs) != 1 || chain[0].URIs[0].String() != s.SpiffeId {
		return "", fmt.Errorf("URI SAN %v != %s", chain[0].URIs, s.SpiffeId)
	}
	key, err := x509.ParsePKCS8PrivateKey(s.X509SvidKey)
	if err != nil {
		return "", fmt.Errorf("PKCS#8: %v", err)
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	pub, ok2 := chain[0].PublicKey.(*ecdsa.PublicKey)
	if !ok || !ok2 || ek.PublicKey.X.Cmp(pub.X) != 0 || ek.PublicKey.Y.Cmp(pub.Y) != 0 {
		return "", fmt.Errorf("key does not match the certificate")
	}
	return chain[0].SerialNumber.String(), nil
}

type jwk struct {
	Kty, Kid, Crv, X, Y, Use string
}

// verifyJWT checks an ES256 JWT-SVID's signature with the JWKS and returns
// its claims.
func verifyJWT(token string, jwks []byte) (map[string]interface{}, error) {
	var set struct{ Keys []jwk }
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, err
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a compact JWS")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, err
	}
	var hdr struct{ Alg, Kid, Typ string }
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, err
	}
	if hdr.Alg != "ES256" {
		return nil, fmt.Errorf("alg %s", hdr.Alg)
	}
	var key *ecdsa.PublicKey
	for _, k := range set.Keys {
		if k.Kid == hdr.Kid && k.Kty == "EC" && k.Crv == "P-256" {
			x, _ := base64.RawURLEncoding.DecodeString(k.X)
			y, _ := base64.RawURLEncoding.DecodeString(k.Y)
			key = &ecdsa.PublicKey{Curve: elliptic.P256(),
				X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		}
	}
	if key == nil {
		return nil, fmt.Errorf("no key %q in the bundle", hdr.Kid)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, fmt.Errorf("signature encoding")
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(key, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, fmt.Errorf("signature does not verify")
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var claims map[string]interface{}
	if err := json.Unmarshal(cb, &claims); err != nil {
		return nil, err
	}
	return claims, nil
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Println("usage: wl-go-client SOCKET SPIFFE_ID [FEDERATED_TD|-]")
		os.Exit(2)
	}
	sock, me := os.Args[1], os.Args[2]
	if len(os.Args) == 4 {
		fedTD = strings.TrimPrefix(os.Args[3], "-")
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	cc, err := grpc.DialContext(dctx, "unix://"+sock, grpc.WithInsecure(), grpc.WithBlock())
	dcancel()
	if !check(err == nil, "grpc-go dials unix://%s (%v)", sock, err) {
		fmt.Printf("%d passed, %d failed\n", passed, failed)
		os.Exit(1)
	}
	defer cc.Close()
	c := pb.NewSpiffeWorkloadAPIClient(cc)
	bg := context.Background()

	// The security header.
	{
		ctx, cancel := context.WithTimeout(bg, 5*time.Second)
		st, err := c.FetchX509SVID(ctx, &pb.X509SVIDRequest{})
		if err == nil {
			_, err = st.Recv()
		}
		code, msg := codeOf(err)
		check(code == codes.InvalidArgument && msg == "security header missing from request",
			"stream without the security header: %v %q", code, msg)
		_, err = c.FetchJWTSVID(ctx, &pb.JWTSVIDRequest{Audience: []string{"a"}})
		code, msg = codeOf(err)
		check(code == codes.InvalidArgument && msg == "security header missing from request",
			"unary call without the security header: %v %q", code, msg)
		cancel()
	}

	// FetchX509SVID: the first response, then the short-TTL rotation.
	var bundleDER []byte
	{
		ctx, cancel := context.WithTimeout(withHeader(bg), 30*time.Second)
		t0 := time.Now()
		st, err := c.FetchX509SVID(ctx, &pb.X509SVIDRequest{})
		var r1, r2 *pb.X509SVIDResponse
		if err == nil {
			r1, err = st.Recv()
		}
		if check(err == nil && len(r1.Svids) == 1 && r1.Svids[0].SpiffeId == me,
			"FetchX509SVID first response in %v: %v", time.Since(t0).Round(time.Millisecond), err) {
			s1, verr := verifySVID(r1.Svids[0])
			check(verr == nil, "crypto/x509 verifies the SVID against the received bundle, key matches (%v)", verr)
			check(fmt.Sprint(keys(r1.FederatedBundles)) == feds(),
				"federated_bundles keys %v", keys(r1.FederatedBundles))
			bundleDER = r1.Svids[0].Bundle
			t1 := time.Now()
			r2, err = st.Recv()
			if check(err == nil && len(r2.Svids) == 1, "rotation on the same stream after %v (%v)",
				time.Since(t1).Round(100*time.Millisecond), err) {
				s2, verr := verifySVID(r2.Svids[0])
				check(verr == nil && s2 != s1, "rotated SVID verifies and has a new serial (%v)", verr)
			}
		}
		cancel()
	}

	// Bundles.
	var jwks []byte
	{
		ctx, cancel := context.WithTimeout(withHeader(bg), 10*time.Second)
		xs, err := c.FetchX509Bundles(ctx, &pb.X509BundlesRequest{})
		var xr *pb.X509BundlesResponse
		if err == nil {
			xr, err = xs.Recv()
		}
		check(err == nil && fmt.Sprint(keys(xr.Bundles)) == tds() &&
			string(xr.Bundles[ownTD]) == string(bundleDER),
			"FetchX509Bundles: own (= the SVID's bundle) and federated (%v)", err)
		js, err := c.FetchJWTBundles(ctx, &pb.JWTBundlesRequest{})
		var jr *pb.JWTBundlesResponse
		if err == nil {
			jr, err = js.Recv()
		}
		if check(err == nil && fmt.Sprint(keys(jr.Bundles)) == tds(),
			"FetchJWTBundles keys (%v)", err) {
			jwks = jr.Bundles[ownTD]
		}
		cancel()
	}

	// FetchJWTSVID + ValidateJWTSVID.
	{
		ctx, cancel := context.WithTimeout(withHeader(bg), 10*time.Second)
		_, err := c.FetchJWTSVID(ctx, &pb.JWTSVIDRequest{})
		code, msg := codeOf(err)
		check(code == codes.InvalidArgument && msg == "audience must be specified",
			"FetchJWTSVID without audience: %v %q", code, msg)
		r, err := c.FetchJWTSVID(ctx, &pb.JWTSVIDRequest{Audience: []string{"go-aud", "go-aud2"}})
		var token string
		if check(err == nil && len(r.Svids) == 1 && r.Svids[0].SpiffeId == me,
			"FetchJWTSVID (%v)", err) {
			token = r.Svids[0].Svid
			claims, verr := verifyJWT(token, jwks)
			check(verr == nil && claims["sub"] == me, "JWT-SVID verifies with the JWT bundle (%v)", verr)
		}
		v, err := c.ValidateJWTSVID(ctx, &pb.ValidateJWTSVIDRequest{Audience: "go-aud2", Svid: token})
		if check(err == nil && v.SpiffeId == me, "ValidateJWTSVID (%v)", err) {
			f := v.Claims.GetFields()
			aud := f["aud"].GetListValue().GetValues()
			check(f["sub"].GetStringValue() == me && len(aud) == 2 &&
				aud[0].GetStringValue() == "go-aud" && f["exp"].GetNumberValue() > 0,
				"claims as google.protobuf.Struct: %v", f)
		}
		_, err = c.ValidateJWTSVID(ctx, &pb.ValidateJWTSVIDRequest{Audience: "other", Svid: token})
		code, msg = codeOf(err)
		check(code == codes.InvalidArgument, "ValidateJWTSVID, wrong audience: %v %q", code, msg)
		_, err = c.FetchJWTSVID(ctx, &pb.JWTSVIDRequest{Audience: []string{"a"}, SpiffeId: ownTD + "/not-mine"})
		code, msg = codeOf(err)
		check(code == codes.PermissionDenied && msg == "no identity issued",
			"FetchJWTSVID for an ID that is not mine: %v %q", code, msg)
		cancel()
	}

	// WIT.
	{
		ctx, cancel := context.WithTimeout(withHeader(bg), 5*time.Second)
		st, err := c.FetchWITSVID(ctx, &pb.WITSVIDRequest{})
		if err == nil {
			_, err = st.Recv()
		}
		code, _ := codeOf(err)
		check(code == codes.Unimplemented, "FetchWITSVID: %v", code)
		cancel()
	}

	// 50 concurrent streams.
	{
		ctx, cancel := context.WithTimeout(withHeader(bg), 20*time.Second)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := c.FetchX509SVID(ctx, &pb.X509SVIDRequest{})
				if err != nil {
					return
				}
				if r, err := st.Recv(); err == nil && len(r.Svids) == 1 {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		check(ok == 50, "50 concurrent streams got their first response (%d)", ok)
		cancel()
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
