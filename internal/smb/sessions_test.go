package smb

import (
	"errors"
	"os"
	"strconv"
	"testing"
)

// smbstatus --processes --json as Samba 4.17 prints it (abridged).
const statusJSON = `{"timestamp": "2026-12-03T15:11:38.901788+0000", "version": "4.17.12-Debian", "sessions": {
 "2824528390": {"session_id": "2824528390", "server_id": {"pid": "12159", "task_id": "0"}, "uid": 266042, "username": "adm1"},
 "930549816": {"session_id": "930549816", "server_id": {"pid": "5614", "task_id": "0"}, "uid": 831205, "username": "WORKGROUP\\Reader1"},
 "17": {"session_id": "17", "server_id": {"pid": "5614", "task_id": "0"}, "uid": 1, "username": "other"}}}`

func TestSessionUsers(t *testing.T) {
	users, err := sessionUsers([]byte(statusJSON))
	if err != nil {
		t.Fatal(err)
	}
	if len(users[12159]) != 1 || !users[12159]["adm1"] {
		t.Errorf("pid 12159: %v", users[12159])
	}
	if len(users[5614]) != 2 || !users[5614]["reader1"] {
		t.Errorf("pid 5614 (two sessions, a domain-qualified name): %v", users[5614])
	}
	if _, err := sessionUsers([]byte("PANIC: assert failed")); err == nil {
		t.Error("smbstatus's garbage parsed")
	}
}

// A process serving one user acts as that user; one serving two, or none, acts as nobody;
// smbstatus failing attributes nothing.
func TestSessionAttribution(t *testing.T) {
	self := uint32(os.Getpid())
	for _, c := range []struct {
		name string
		out  string
		err  error
		ok   bool
	}{
		{"one user", `{"sessions": {"1": {"server_id": {"pid": "` + strconv.FormatUint(uint64(self), 10) + `"}, "username": "alice"}}}`, nil, true},
		{"two users", `{"sessions": {"1": {"server_id": {"pid": "` + strconv.FormatUint(uint64(self), 10) + `"}, "username": "alice"}, "2": {"server_id": {"pid": "` + strconv.FormatUint(uint64(self), 10) + `"}, "username": "bob"}}}`, nil, false},
		{"not a session", `{"sessions": {"1": {"server_id": {"pid": "1"}, "username": "alice"}}}`, nil, false},
		{"smbstatus fails", ``, errors.New("exit status 1"), false},
	} {
		s := newSessions(func() ([]byte, error) { return []byte(c.out), c.err })
		uid, err := s.uidOf(self)
		if ok := err == nil; ok != c.ok || (ok && uid != uidOf("alice")) {
			t.Errorf("%s: uid %d, %v", c.name, uid, ok)
		}
	}
	var none *sessions
	if _, err := none.uidOf(self); err == nil {
		t.Error("no session table attributed a call")
	}
}

// A process whose client logged one user off and another on is looked up again as soon as
// the new user calls under its own uid: root calls then act for the new user, not the old.
func TestSessionSwitch(t *testing.T) {
	self := uint32(os.Getpid())
	user := "alice"
	s := newSessions(func() ([]byte, error) {
		return []byte(`{"sessions": {"1": {"server_id": {"pid": "` + strconv.FormatUint(uint64(self), 10) + `"}, "username": "` + user + `"}}}`), nil
	})
	if uid, err := s.uidOf(self); err != nil || uid != uidOf("alice") {
		t.Fatalf("alice: %d %v", uid, err)
	}
	user = "bob" // alice logs off, bob logs on over the same connection
	s.note(self, uidOf("bob"))
	if uid, err := s.uidOf(self); err != nil || uid != uidOf("bob") {
		t.Errorf("after the switch root calls act for %d (%v), want bob's %d", uid, err, uidOf("bob"))
	}
}
