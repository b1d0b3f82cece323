// Command walkthrough runs README.md's walk-through as a newcomer would paste it: every
// ```sh block in order, in one bash shell, in a fresh folder beside a fresh `cerulean serve`.
//
// The README is the script; the runner only adapts it to run unattended:
//   - Cerulean's address 127.0.0.1:8443 becomes the fresh server's;
//   - a block right after a line `<!-- walkthrough: skip (reason) -->` is not run (the reason
//     says what runs it instead);
//   - a command whose trailing comment starts with `# refused` must fail; `# refused: CODE ...`
//     must also print CODE (an Azure error code, DENIED, ...). Every other command must
//     succeed (bash -e -o pipefail).
//
// The folder links the repository's sources (so `go build ./cmd/cerulean` and
// `go run ./examples/...` work there) and keeps what the walk-through writes out of the
// checkout. On failure it names the README line that failed and shows the server's log.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const readmeAddr = "127.0.0.1:8443"

func main() {
	readme := flag.String("readme", "README.md", "the README whose walk-through to run")
	keep := flag.Bool("keep", false, "keep the walk-through's folder (and its server's log) afterwards")
	printOnly := flag.Bool("print", false, "print the script that would run and exit")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: walkthrough [--readme README.md] [--keep] [--print]\n\n"+
			"Runs README.md's ```sh blocks in order in one bash shell against a fresh cerulean serve.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*readme, *keep, *printOnly); err != nil {
		fmt.Fprintln(os.Stderr, "walkthrough:", err)
		os.Exit(1)
	}
}

func run(readmePath string, keep, printOnly bool) error {
	src, err := os.ReadFile(readmePath)
	if err != nil {
		return err
	}
	blocks, err := extract(string(src))
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	script, lineMap := compose(blocks, addr)
	if printOnly {
		fmt.Print(script)
		return nil
	}
	repo, err := filepath.Abs(filepath.Dir(readmePath))
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "cerulean-walkthrough-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "walkthrough: folder", work)
	} else {
		defer os.RemoveAll(work)
	}
	if err := linkSources(repo, work); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The server: the README's first command, `go run ./cmd/cerulean serve`, built and started
	// here on a free port with the default data folder (./cerulean-data), where `./cerulean
	// env` looks for it.
	fmt.Fprintf(os.Stderr, "walkthrough: building cerulean and starting a fresh server on %s...\n", addr)
	serverBin := filepath.Join(work, ".walkthrough-serve")
	build := exec.CommandContext(ctx, "go", "build", "-o", serverBin, "./cmd/cerulean")
	build.Dir, build.Stdout, build.Stderr = work, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/cerulean: %w", err)
	}
	logPath := filepath.Join(work, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	serve := exec.Command(serverBin, "serve", "--listen", addr)
	serve.Dir, serve.Stdout, serve.Stderr = work, logFile, logFile
	if err := serve.Start(); err != nil {
		return err
	}
	defer func() {
		serve.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			serve.Process.Kill()
		}
	}()
	if err := waitFor(filepath.Join(work, "cerulean-data", "server.json"), 60*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(logPath))
	}

	scriptPath := filepath.Join(work, ".walkthrough.sh")
	if err := os.WriteFile(scriptPath, []byte(script), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "walkthrough: running %d blocks of %s\n", len(blocks), readmePath)
	bash := exec.CommandContext(ctx, "bash", scriptPath)
	bash.Dir, bash.Stdout, bash.Env = work, os.Stdout, cleanEnv()
	errPipe, err := bash.StderrPipe()
	if err != nil {
		return err
	}
	if err := bash.Start(); err != nil {
		return err
	}
	failedAt := 0
	sc := bufio.NewScanner(errPipe)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "walkthrough-failed-at "); ok {
			// The first report is the innermost (a subshell's) command.
			if i, err := strconv.Atoi(n); err == nil && i > 0 && i <= len(lineMap) && failedAt == 0 {
				failedAt = lineMap[i-1]
			}
			continue
		}
		fmt.Fprintln(os.Stderr, line)
	}
	err = bash.Wait()
	if err == nil {
		fmt.Fprintf(os.Stderr, "walkthrough: all %d blocks ran as the README says\n", len(blocks))
		return nil
	}
	msg := fmt.Sprintf("the walk-through failed: %v", err)
	if failedAt > 0 {
		msg = fmt.Sprintf("the walk-through failed at %s line %d:\n    %s", readmePath, failedAt, readmeLine(string(src), failedAt))
	}
	return fmt.Errorf("%s\nthe server's log ends:\n%s", msg, tail(logPath))
}

// A block is one ```sh fence of the README: its first line's number and its lines.
type block struct {
	line  int
	lines []string
}

var skipRE = regexp.MustCompile(`^<!--\s*walkthrough:\s*skip\b.*-->\s*$`)

// extract returns the README's ```sh blocks in order, leaving out those marked to skip.
func extract(src string) ([]block, error) {
	var out []block
	lines := strings.Split(src, "\n")
	skipNext := false
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if skipRE.MatchString(l) {
			skipNext = true
			continue
		}
		if !strings.HasPrefix(l, "```") {
			continue
		}
		lang := strings.TrimSpace(strings.TrimPrefix(l, "```"))
		start := i + 1
		end := start
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("line %d: a code block that never ends", i+1)
		}
		if lang == "sh" && !skipNext {
			out = append(out, block{line: start + 1, lines: lines[start:end]})
		}
		skipNext = false
		i = end
	}
	if len(out) == 0 {
		return nil, errors.New("no ```sh blocks found")
	}
	return out, nil
}

var (
	refusedRE = regexp.MustCompile(`\s#\s*refused\b:?\s*(\S*)`)
	heredocRE = regexp.MustCompile(`<<-?\s*'?"?([A-Za-z_]+)'?"?`)
)

// compose turns the blocks into one bash script and maps each script line (1-based, index
// i-1) to the README line it came from.
func compose(blocks []block, addr string) (string, []int) {
	var b strings.Builder
	var lineMap []int
	emit := func(readmeLine int, s string) {
		for _, l := range strings.Split(s, "\n") {
			b.WriteString(l)
			b.WriteByte('\n')
			lineMap = append(lineMap, readmeLine)
		}
	}
	emit(0, "set -eEuo pipefail\ntrap 'echo \"walkthrough-failed-at $LINENO\" >&2' ERR")
	for n, bl := range blocks {
		emit(bl.line, fmt.Sprintf("echo %s >&2", shellQuote(fmt.Sprintf("--- block %d/%d (README line %d)", n+1, len(blocks), bl.line))))
		for i := 0; i < len(bl.lines); i++ {
			l := strings.ReplaceAll(bl.lines[i], readmeAddr, addr)
			at := bl.line + i
			if m := heredocRE.FindStringSubmatch(l); m != nil { // copied as written up to its end
				emit(at, l)
				for i+1 < len(bl.lines) {
					i++
					emit(bl.line+i, strings.ReplaceAll(bl.lines[i], readmeAddr, addr))
					if strings.TrimSpace(bl.lines[i]) == m[1] {
						break
					}
				}
				continue
			}
			// A logical command: continuation lines joined.
			cmd := l
			for strings.HasSuffix(strings.TrimRight(cmd, " \t"), "\\") && i+1 < len(bl.lines) {
				i++
				cmd = strings.TrimSuffix(strings.TrimRight(cmd, " \t"), "\\") + " " + strings.TrimSpace(strings.ReplaceAll(bl.lines[i], readmeAddr, addr))
			}
			if m := refusedRE.FindStringSubmatchIndex(cmd); m != nil {
				code := ""
				if m[2] >= 0 {
					code = strings.TrimRight(cmd[m[2]:m[3]], ".,;:")
				}
				emit(at, refusal(strings.TrimSpace(cmd[:m[0]]), code, at))
				continue
			}
			emit(at, cmd)
		}
	}
	return b.String(), lineMap
}

// refusal is a command that must fail (and print code, when one is named).
func refusal(cmd, code string, line int) string {
	s := fmt.Sprintf("if __out=$( { %s ; } 2>&1 ); then printf '%%s\\n' \"$__out\"; echo 'README line %d: this should have been refused, and succeeded' >&2; false; fi; printf '%%s\\n' \"$__out\" >&2", cmd, line)
	if code != "" {
		s += fmt.Sprintf("; case $__out in *%s*) ;; *) echo 'README line %d: refused, but without %s' >&2; false;; esac", shellQuote(code), line, code)
	}
	return s
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// linkSources makes work a view of the repository: its top-level entries linked, nothing
// the walk-through writes (the binary, the data folder, files) landing in the checkout.
func linkSources(repo, work string) error {
	entries, err := os.ReadDir(repo)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch e.Name() {
		case ".git", "cerulean", "cerulean-data":
			continue
		}
		if err := os.Symlink(filepath.Join(repo, e.Name()), filepath.Join(work, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// cleanEnv is the caller's environment without anything an earlier `cerulean env` or a CI
// job's Azure settings left: the walk-through sets up its own shell.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "AZURE_"), strings.HasPrefix(k, "CERULEAN_"), strings.HasPrefix(k, "IDENTITY_"), strings.HasPrefix(k, "MSI_"),
			strings.EqualFold(k, "HTTP_PROXY"), strings.EqualFold(k, "HTTPS_PROXY"), strings.EqualFold(k, "NO_PROXY"),
			k == "SSL_CERT_FILE", k == "REQUESTS_CA_BUNDLE", k == "NODE_EXTRA_CA_CERTS", k == "IMDS_ENDPOINT":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitFor(path string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server did not start within %s", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readmeLine(src string, n int) string {
	lines := strings.Split(src, "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return strings.TrimSpace(lines[n-1])
}

func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, _ := f.Stat()
	if st != nil && st.Size() > 4096 {
		f.Seek(st.Size()-4096, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
