// Package server wires Cerulean's endpoints to the network: one listener that speaks both
// plain HTTP and TLS (told apart by the first byte), certificates from the local CA, routing
// by host name (management.azure.com, login.microsoftonline.com, 169.254.169.254) and by
// path on 127.0.0.1, and the interception proxy: an HTTP forward proxy that answers IMDS
// itself and terminates CONNECT for Azure host names only. It also stamps request ids and
// logs each request (with secrets redacted, see redact.go).
//
// It holds no Azure semantics of its own.
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/graph"
	"github.com/cerulean-azure/cerulean/internal/keyvault"
	"github.com/cerulean-azure/cerulean/internal/pki"
	"github.com/cerulean-azure/cerulean/internal/providers/storage"
	"github.com/cerulean-azure/cerulean/internal/providers/storagesync"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/sts"
	"github.com/google/uuid"
)

// Server is the HTTP(S) front of Cerulean.
type Server struct {
	ARM      *arm.Service
	STS      *sts.Service
	KeyVault *keyvault.Service
	Files    *files.Service
	Storage  *storage.Provider
	Sync     *storagesync.Provider
	// KeyPollInterval and KeyPollNow drive automatic customer-key version updating.
	KeyPollInterval time.Duration
	KeyPollNow      chan struct{}
	Graph           *graph.Service
	CA              *pki.CA
	Log             *slog.Logger

	http  *http.Server
	ln    *muxListener
	idle  idleRelease
	store memoryReleaser // the store's caches, emptied when the server falls idle (nil: none)
}

// Serve accepts connections on ln until ctx is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.ln = newMuxListener(ln, s.tlsConfig())
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
	}
	logf := func(msg string, args ...any) { s.Log.Info(msg, args...) }
	go s.KeyVault.Run(ctx, logf)
	go s.releaseWhenIdle(ctx)
	go s.Storage.RunKeyPoll(ctx, s.KeyPollInterval, s.KeyPollNow, logf)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.http.Shutdown(shut)
	}()
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			name := strings.ToLower(hello.ServerName)
			if name == "" || name == "localhost" || !IsAzureHost(name) {
				return s.CA.Leaf("")
			}
			return s.CA.Leaf(name)
		},
	}
}

// IsAzureHost reports whether the proxy may serve host: Azure's public-cloud names for the
// services Cerulean implements, and IMDS.
func IsAzureHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	switch h {
	case "management.azure.com", "management.core.windows.net", "login.microsoftonline.com",
		"login.windows.net", "graph.microsoft.com", "169.254.169.254":
		return true
	}
	for _, suffix := range []string{".vault.azure.net", ".file.core.windows.net", ".blob.core.windows.net"} {
		if strings.HasSuffix(h, suffix) && len(h) > len(suffix) {
			return true
		}
	}
	return false
}

// isLoopback reports whether host is this machine; the proxy serves such requests itself
// (clients that send everything through the proxy reach Cerulean's own endpoints), never
// forwarding them.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type ctxKey int

const requestIDKey ctxKey = 0

// requestID is the x-ms-request-id ServeHTTP stamped on the request ctx belongs to.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// ServeHTTP stamps request ids, recovers from panics, logs, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.idle.requests.Add(1)
	reqID := uuid.NewString()
	w.Header().Set("x-ms-request-id", reqID)
	corr := r.Header.Get("x-ms-correlation-request-id")
	if corr == "" {
		corr = reqID
	}
	w.Header().Set("x-ms-correlation-request-id", corr)
	if c := r.Header.Get("x-ms-client-request-id"); c != "" {
		w.Header().Set("x-ms-client-request-id", c)
	}
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			s.Log.Error("panic", "request_id", reqID, "panic", p, "stack", string(debug.Stack()))
			if rec.status == 0 {
				azerr.WriteARM(rec, azerr.Internal)
			}
		}
		// Never a header, and paths, queries and hosts with their secrets redacted: a host
		// secret or a SAS signature in the log would work for whoever reads it.
		s.Log.Info("request", "method", r.Method, "host", logHost(r.Host), "path", logPath(r.URL.Path), "query", logQuery(r.URL.RawQuery), "status", rec.status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000, "request_id", reqID,
			"client_request_id", r.Header.Get("x-ms-client-request-id"), "tls", r.TLS != nil)
	}()
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey, reqID))
	s.route(rec, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(hostport)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		s.connect(w, r)
		return
	}
	host := hostOnly(r.Host)
	if r.URL.IsAbs() {
		// A forward-proxy request (absolute-form URI).
		host = hostOnly(r.URL.Host)
		if !IsAzureHost(host) && !isLoopback(host) {
			refuse(w, host)
			return
		}
		if creds := r.Header.Get("Proxy-Authorization"); creds != "" {
			hostID, ok := s.proxyHost(creds)
			if !ok {
				w.Header().Set("Proxy-Authenticate", `Basic realm="cerulean"`)
				azerr.WriteOAuth(w, azerr.New(http.StatusProxyAuthRequired, "invalid_proxy_credentials",
					"The proxy credentials do not name a host of this server: use the HTTP_PROXY value `cerulean env --resource <id>` prints."))
				return
			}
			r = r.WithContext(sts.WithIMDSHost(r.Context(), hostID))
		}
		r.Header.Del("Proxy-Authorization")
	}
	base := "https://" + r.Host
	if r.TLS == nil {
		base = "http://" + r.Host
	}
	p := r.URL.Path
	switch {
	case host == "169.254.169.254" || strings.HasPrefix(strings.ToLower(p), "/metadata/identity/"):
		if strings.EqualFold(strings.TrimSuffix(p, "/"), "/metadata/identity/oauth2/token") {
			s.STS.ServeIMDS(w, r)
			return
		}
		azerr.WriteOAuth(w, azerr.NotFound("not_found", "Cerulean's IMDS serves only /metadata/identity/oauth2/token."))
	case host == "login.microsoftonline.com" || host == "login.windows.net":
		if requireTLS(w, r, true) {
			s.STS.ServeAuthority(w, r, base)
		}
	case host == "management.azure.com" || host == "management.core.windows.net":
		if requireTLS(w, r, false) {
			s.ARM.ServeHTTP(w, r)
		}
	case host == graph.Host:
		if requireTLS(w, r, false) {
			s.Graph.ServeHTTP(w, r)
		}
	case strings.HasSuffix(host, keyvault.DNSSuffix):
		s.KeyVault.ServeVault(w, r, strings.TrimSuffix(host, keyvault.DNSSuffix), base, p)
	case strings.HasSuffix(host, files.DNSSuffix):
		s.Files.ServeAccount(w, r, strings.TrimSuffix(host, files.DNSSuffix), base, p)
	case strings.HasSuffix(host, ".core.windows.net"):
		azerr.WriteARM(w, azerr.BadRequest("NotSupported",
			"%s is not served by this version of Cerulean: only the File service (<account>.file.core.windows.net) is built.", host))
	case strings.HasPrefix(strings.ToLower(p), "/vaults/"):
		// Path-style Key Vault on 127.0.0.1: https://127.0.0.1:PORT/vaults/<vault>/keys/...
		name, rest, _ := strings.Cut(p[len("/vaults/"):], "/")
		s.KeyVault.ServeVault(w, r, name, base+"/vaults/"+name, "/"+rest)
	case strings.EqualFold(strings.TrimSuffix(p, "/"), "/msi/token"):
		s.STS.ServeAppService(w, r)
	case strings.HasPrefix(strings.ToLower(p), "/arc/"):
		// An Arc-enabled server's identity endpoint: /arc/<host secret>/metadata/identity/oauth2/token.
		secret, rest, _ := strings.Cut(p[len("/arc/"):], "/")
		if !strings.EqualFold(strings.TrimSuffix(rest, "/"), "metadata/identity/oauth2/token") {
			azerr.WriteOAuth(w, azerr.NotFound("not_found", "An Arc identity endpoint serves only /arc/<host>/metadata/identity/oauth2/token."))
			return
		}
		s.STS.ServeArc(w, r, secret)
	case strings.HasPrefix(strings.ToLower(p), "/msi/host/"):
		s.STS.ServeCloudShell(w, r, strings.Trim(p[len("/msi/host/"):], "/"))
	case strings.HasPrefix(strings.ToLower(p), storagesync.ManagementPath+"/"):
		// A registered server's agent (Azure File Sync's management endpoint).
		if requireTLS(w, r, false) {
			s.Sync.ServeAgent(w, r, base, s.accountKey1)
		}
	case s.isAccountPath(r, p):
		// Path-style Azure Files on Cerulean's own address: /<account>/<share>/...
		name, rest, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		s.Files.ServeAccount(w, r, name, base+"/"+name, "/"+rest)
	case sts.IsAuthorityPath(p):
		if requireTLS(w, r, true) {
			s.STS.ServeAuthority(w, r, base)
		}
	default:
		if requireTLS(w, r, false) {
			s.ARM.ServeHTTP(w, r)
		}
	}
}

// requireTLS refuses a plain-HTTP request to an endpoint that takes credentials over HTTPS
// only in Azure: Resource Manager, Microsoft Graph and the token endpoints (a client secret
// or bearer token sent in the clear). Only the managed-identity endpoints (IMDS, App Service,
// Cloud Shell) and Shared Key/SAS file requests are plain HTTP there, and here.
func requireTLS(w http.ResponseWriter, r *http.Request, oauth bool) bool {
	if r.TLS != nil {
		return true
	}
	err := azerr.BadRequest("HttpsRequired", "%s is served over HTTPS only, as in Azure: use https://%s%s (the CA is ca.pem in the data folder; `cerulean env` sets it up).", "This endpoint", r.Host, r.URL.Path)
	if oauth {
		azerr.WriteOAuth(w, azerr.BadRequest("invalid_request", "The token endpoints are served over HTTPS only, as in Azure: use https://%s%s.", r.Host, r.URL.Path))
	} else {
		azerr.WriteARM(w, err)
	}
	return false
}

func refuse(w http.ResponseWriter, host string) {
	azerr.WriteARM(w, azerr.Forbidden("ProxyHostNotAllowed",
		"Cerulean's proxy serves only Azure host names (management.azure.com, login.microsoftonline.com, graph.microsoft.com, *.vault.azure.net, *.core.windows.net, 169.254.169.254); '%s' is refused. Add it to NO_PROXY to reach it directly.", host))
}

// proxyHost reads "Basic base64(name:secret)" proxy credentials; the secret names the host.
func (s *Server) proxyHost(header string) (string, bool) {
	scheme, enc, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", false
	}
	_, secret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", false
	}
	return s.STS.HostFromSecret(secret)
}

// connect terminates a CONNECT tunnel to an Azure host name with a certificate from the
// local CA and serves the requests inside it like any other.
func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	host := hostOnly(r.Host)
	if (!IsAzureHost(host) && !isLoopback(host)) || host == "169.254.169.254" {
		refuse(w, host)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		if u, ok2 := w.(interface{ Unwrap() http.ResponseWriter }); ok2 {
			hj, ok = u.Unwrap().(http.Hijacker)
		}
	}
	if !ok {
		azerr.WriteARM(w, azerr.Internal)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
		conn.Close()
		return
	}
	tlsConn := tls.Server(&bufferedConn{Conn: conn, r: buf.Reader}, s.tlsConfig())
	s.ln.push(tlsConn)
}

// bufferedConn is a net.Conn whose first bytes come from a bufio.Reader.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// muxListener accepts raw connections, tells TLS from plain HTTP by the first byte, and
// hands both (and tunnelled TLS connections) to one http.Server.
type muxListener struct {
	inner net.Listener
	tls   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	err   error
}

func newMuxListener(inner net.Listener, cfg *tls.Config) *muxListener {
	l := &muxListener{inner: inner, tls: cfg, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *muxListener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			l.err = err
			l.Close()
			return
		}
		go l.sniff(c)
	}
}

func (l *muxListener) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	var out net.Conn = &bufferedConn{Conn: c, r: br}
	if first[0] == 0x16 { // TLS handshake record
		out = tls.Server(out, l.tls)
	}
	l.push(out)
}

func (l *muxListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *muxListener) Close() error {
	l.once.Do(func() { close(l.done); l.inner.Close() })
	return nil
}

func (l *muxListener) Addr() net.Addr { return l.inner.Addr() }

// String describes the server for logs.
func (s *Server) String() string { return fmt.Sprintf("cerulean on %s", s.ln.Addr()) }

// isAccountPath reports whether a path's first segment names a storage account (path-style
// Azure Files) rather than a Resource Manager or token-service path. Storage requests carry
// x-ms-version, a SharedKey Authorization or a SAS; account names that would shadow
// Cerulean's own paths are refused at create.
func (s *Server) isAccountPath(r *http.Request, p string) bool {
	auth := r.Header.Get("Authorization")
	if r.Header.Get("x-ms-version") == "" && !strings.HasPrefix(auth, "SharedKey ") && r.URL.Query().Get("sig") == "" {
		return false
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	_, ok := s.Files.Account(r.Context(), name)
	return ok
}

// PollKeysNow asks the key poll to run at once (cerulean storage poll-keys sends SIGUSR1).
func (s *Server) PollKeysNow() {
	select {
	case s.KeyPollNow <- struct{}{}:
	default:
	}
}

// accountKey1 is a storage account's key1, which the sync service gives registered servers
// that authenticate with certificates.
func (s *Server) accountKey1(tx store.Tx, account string) (string, error) {
	return s.Files.KeyTx(tx, account, "key1")
}
