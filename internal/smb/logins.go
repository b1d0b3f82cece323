package smb

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Directory principals log in to SMB with a user name and a password Cerulean gives them
// ('cerulean smb login'): Azure Files takes Kerberos tickets from Entra or AD, which an
// emulator on one machine replaces with NTLM logins bound to the principal. Whoever logs in
// acts as that principal: its share-level roles and its SID (and its groups' SIDs) in the
// ACLs decide what it may do.

const colLogins = "smb.logins"

// Login is one principal's SMB credential.
type Login struct {
	User     string `json:"user"`
	ObjectID string `json:"objectId"`
	Password []byte `json:"password"` // sealed under the root key
}

var userRE = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)

// ValidUser checks an SMB user name (a Unix user name, which smbd needs).
func ValidUser(u string) error {
	if !userRE.MatchString(u) {
		return fmt.Errorf("'%s' is not a valid SMB user name: 1 to 32 lower-case letters, digits, '_', '-' or '.', starting with a letter or '_'", u)
	}
	return nil
}

func loginContext(objectID string) string { return "smb/login/" + objectID }

// SetLoginTx gives a principal an SMB login (replacing its previous one).
func SetLoginTx(tx store.Tx, b *seal.Barrier, objectID, user, password string) error {
	if err := ValidUser(user); err != nil {
		return err
	}
	all, err := LoginsTx(tx)
	if err != nil {
		return err
	}
	for _, l := range all {
		if l.User == user && l.ObjectID != objectID {
			return fmt.Errorf("the SMB user name %s belongs to principal %s: choose another with --user", user, l.ObjectID)
		}
	}
	v, err := json.Marshal(Login{User: user, ObjectID: objectID, Password: b.Seal(loginContext(objectID), []byte(password))})
	if err != nil {
		return err
	}
	return tx.Put(colLogins, objectID, v)
}

// DeleteLoginTx removes a principal's SMB login.
func DeleteLoginTx(tx store.Tx, objectID string) error {
	err := tx.Delete(colLogins, objectID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("principal %s has no SMB login", objectID)
	}
	return err
}

// LoginsTx lists every SMB login.
func LoginsTx(tx store.Tx) ([]Login, error) {
	items, err := tx.List(colLogins, "")
	if err != nil {
		return nil, err
	}
	out := make([]Login, 0, len(items))
	for _, it := range items {
		var l Login
		if err := json.Unmarshal(it.Value, &l); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// OpenPassword returns a login's password.
func (l Login) OpenPassword(b *seal.Barrier) (string, error) {
	p, err := b.Open(loginContext(l.ObjectID), l.Password)
	return string(p), err
}
