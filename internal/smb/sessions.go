package smb

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// sessions attributes smbd's calls made as root to the SMB user they are made for.
//
// smbd becomes root for some of a user's calls (writing the NT ACL after its own check,
// retrying a refused delete, every call of an admin user), and the real uid is 0 too, so the
// caller's uid tells nothing. smbd serves each client connection from a process of its own:
// the calling thread's process is looked up among the SMB sessions (smbstatus), and a process
// serving exactly one user acts as that user. Anything else acts as nobody.
//
// The answer is kept per process (and start time). A client may log one session off and
// another on over the same connection: the new user's own calls, made under its uid, show
// the switch, and the process is looked up again.
type sessions struct {
	list func() ([]byte, error) // smbstatus --json

	mu     sync.Mutex
	byProc map[int]procUser
	seen   map[int]procUser // the uid each process last called with, not being root
}

// procUser is the user an smbd process serves; start tells the process from a later one
// given the same id.
type procUser struct {
	start string
	uid   uint32
}

func newSessions(list func() ([]byte, error)) *sessions {
	return &sessions{list: list, byProc: map[int]procUser{}, seen: map[int]procUser{}}
}

// uidOf is the uid of the one SMB user the process of thread tid serves, or why none.
func (s *sessions) uidOf(tid uint32) (uint32, error) {
	if s == nil {
		return 0, errors.New("no SMB sessions are known")
	}
	tgid, ok := ThreadGroup(tid)
	if !ok {
		return 0, fmt.Errorf("thread %d is gone", tid)
	}
	start, ok := processStart(tgid)
	if !ok {
		return 0, fmt.Errorf("process %d is gone", tgid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.byProc[tgid]; ok && p.start == start {
		if last, ok := s.seen[tgid]; !ok || last.start != start || last.uid == p.uid {
			return p.uid, nil
		}
	}
	out, err := s.list()
	if err != nil {
		return 0, err
	}
	users, err := sessionUsers(out)
	if err != nil {
		return 0, fmt.Errorf("smbstatus: %w", err)
	}
	// Forget processes that serve nobody any more.
	for pid := range s.byProc {
		if _, ok := users[pid]; !ok {
			delete(s.byProc, pid)
		}
	}
	for pid := range s.seen {
		if _, ok := users[pid]; !ok {
			delete(s.seen, pid)
		}
	}
	names := users[tgid]
	if len(names) != 1 {
		return 0, fmt.Errorf("process %d serves %d SMB users", tgid, len(names))
	}
	for name := range names {
		p := procUser{start: start, uid: uidOf(name)}
		s.byProc[tgid] = p
		return p.uid, nil
	}
	panic("unreachable")
}

// note records that thread tid called as uid (not root).
func (s *sessions) note(tid, uid uint32) {
	if s == nil {
		return
	}
	tgid, ok := ThreadGroup(tid)
	if !ok {
		return
	}
	start, ok := processStart(tgid)
	if !ok {
		return
	}
	s.mu.Lock()
	s.seen[tgid] = procUser{start: start, uid: uid}
	s.mu.Unlock()
}

// sessionUsers reads smbstatus's JSON: for each smbd process, the user names of its sessions.
func sessionUsers(out []byte) (map[int]map[string]bool, error) {
	var st struct {
		Sessions map[string]struct {
			ServerID struct {
				PID string `json:"pid"`
			} `json:"server_id"`
			Username string `json:"username"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, err
	}
	users := map[int]map[string]bool{}
	for _, sess := range st.Sessions {
		pid, err := strconv.Atoi(sess.ServerID.PID)
		if err != nil {
			continue
		}
		name := sess.Username
		if i := strings.LastIndexAny(name, `\/`); i >= 0 {
			name = name[i+1:]
		}
		if users[pid] == nil {
			users[pid] = map[string]bool{}
		}
		users[pid][strings.ToLower(name)] = true
	}
	return users, nil
}

// processStart is when a process started (its start time in clock ticks, from /proc).
func processStart(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// The command name, in parentheses, may hold spaces: count fields after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3 // field 22 of stat; f[0] is field 3
	if len(f) <= startField {
		return "", false
	}
	return f[startField], true
}
