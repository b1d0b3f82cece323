// Package sqlite is the embedded Store: one SQLite database file in the data folder, in WAL
// mode with full synchronous commits, so an acknowledged write survives kill -9 (and power
// loss). Concurrent updates are committed in groups sharing one sync (group commit). It is
// the default store of `cerulean serve`.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cerulean-azure/cerulean/internal/store"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is a store.Store backed by a SQLite file.
type DB struct {
	read   *sql.DB
	write  *sql.DB
	closed atomic.Bool
	// Prepared once: the hot reads. database/sql keeps one prepared copy per connection and
	// Tx.StmtContext reuses it, so a Get costs no SQL parse.
	readGet, writeGet, revision *sql.Stmt

	revMu    sync.Mutex
	revMulti map[int]*sql.Stmt // revision sums over n collections, prepared on first use

	wal  *walIndex // the WAL-index header, mapped (walindex.go)
	revs revCache  // revisions read while the header was as recorded

	stmtMu sync.Mutex
	stmts  map[*sql.DB]map[string]*sql.Stmt // statements prepared once per pool (no parse per call)

	// Writes are committed in groups: updates waiting while one commits share the next
	// transaction (each in a savepoint of its own) and its one sync (see writer).
	writes chan *writeReq
	quit   chan struct{}
	wg     sync.WaitGroup

	// The WAL is copied back into the database by a connection of its own, off the writer's
	// path (see checkpointer); committed is signalled after each commit.
	ckpt      *sql.DB
	committed chan struct{}
}

// writeReq is an Update waiting for the writer.
type writeReq struct {
	ctx  context.Context
	fn   func(store.Tx) error
	done chan error
}

// maxGroup is the most updates one commit carries.
const maxGroup = 64

const (
	putSQL = `INSERT INTO documents (collection, key, value) VALUES (?, ?, ?)
		ON CONFLICT(collection, key) DO UPDATE SET value = excluded.value`
	createSQL = `INSERT INTO documents (collection, key, value) VALUES (?, ?, ?)
		ON CONFLICT(collection, key) DO NOTHING`
	deleteSQL   = `DELETE FROM documents WHERE collection = ? AND key = ?`
	getSQL      = `SELECT value FROM documents WHERE collection = ? AND key = ?`
	revisionSQL = `SELECT revision FROM revisions WHERE collection = ?`
	listSQL     = `SELECT key, value FROM documents WHERE collection = ? AND key >= ? ORDER BY key`
	listToSQL   = `SELECT key, value FROM documents WHERE collection = ? AND key >= ? AND key < ? ORDER BY key`
	keysSQL     = `SELECT key FROM documents WHERE collection = ? AND key >= ? ORDER BY key LIMIT ?`
	keysToSQL   = `SELECT key FROM documents WHERE collection = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?`
)

// rangeStatements list and key-range reads, prepared on both pools.
var rangeStatements = []string{listSQL, listToSQL, keysSQL, keysToSQL}

var _ store.Store = (*DB)(nil)

// migrations are applied in order, each once; append only.
var migrations = []string{
	`CREATE TABLE documents (
		collection TEXT NOT NULL,
		key        TEXT NOT NULL,
		value      BLOB NOT NULL,
		PRIMARY KEY (collection, key)
	) WITHOUT ROWID`,
	`CREATE TABLE revisions (
		collection TEXT PRIMARY KEY,
		revision   INTEGER NOT NULL
	) WITHOUT ROWID`,
	// Documents move to a rowid table with its keys in an index of their own. In the table
	// without rowid above, the values (file chunks of 1 MiB) lay in the key b-tree, and
	// SQLite read whole values to compare keys on the way to any document.
	`CREATE TABLE documents_by_rowid (
		id         INTEGER PRIMARY KEY,
		collection TEXT NOT NULL,
		key        TEXT NOT NULL,
		value      BLOB NOT NULL,
		UNIQUE (collection, key)
	)`,
	`INSERT INTO documents_by_rowid (collection, key, value) SELECT collection, key, value FROM documents ORDER BY collection, key`,
	`DROP TABLE documents`,
	`ALTER TABLE documents_by_rowid RENAME TO documents`,
}

// Open opens (creating if needed) the database at path and applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	// SQLite creates a database 0644 (less the umask), and its WAL and shared-memory files
	// with the database file's mode: create the file 0600 first so all three are private.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create sqlite %s: %w", path, err)
	}
	ps, err := filePageSize(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read sqlite %s: %w", path, err)
	}
	// Each connection has a page cache of its own, filled as it reads and kept while it
	// lives: the writer's holds the pages it changes, a reader's is emptied by SQLite when it
	// begins a transaction after another connection committed, so a small one serves as well,
	// and the checkpointer reads the WAL, not through its cache. The sizes are given in pages
	// of the file's size: a size in KiB ("cache_size(-N)") is turned into pages with the
	// page size known when the pragma runs — SQLite's default 4 KiB, as the connection has
	// not read the file yet — so with 64 KiB pages "64 MiB" was 1 GiB per connection, and
	// the server's memory grew with every MiB a large file wrote (issue 14).
	dsn := func(cacheKiB int, extra url.Values) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(ON)", fmt.Sprintf("cache_size(%d)", max(cacheKiB<<10/ps, 16)), "temp_store(MEMORY)"} {
			q.Add("_pragma", p)
		}
		for k, v := range extra {
			q[k] = append(q[k], v...)
		}
		return "file:" + path + "?" + q.Encode()
	}
	// The writer checkpoints only as a safety valve, when the checkpointer has fallen far
	// behind (walCheckpointFrames).
	write, err := sql.Open("sqlite", dsn(writerCacheKiB, url.Values{"_txlock": {"immediate"}, "_pragma": {fmt.Sprintf("wal_autocheckpoint(%d)", walCheckpointFrames)}}))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", dsn(readerCacheKiB, nil))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	ckpt, err := sql.Open("sqlite", dsn(checkpointerCacheKiB, nil))
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	// Readers keep their connections: database/sql keeps 2 idle by default, so under a few
	// concurrent requests it closed and reopened SQLite connections (pragmas and every
	// prepared statement again) on most reads (issue 14's ARM read profile).
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	db := &DB{read: read, write: write, ckpt: ckpt, writes: make(chan *writeReq), quit: make(chan struct{}), committed: make(chan struct{}, 1)}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	for _, p := range []struct {
		pool *sql.DB
		sql  string
		out  **sql.Stmt
	}{{read, getSQL, &db.readGet}, {write, getSQL, &db.writeGet}, {read, revisionSQL, &db.revision}} {
		if *p.out, err = p.pool.PrepareContext(ctx, p.sql); err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
	}
	db.stmts = map[*sql.DB]map[string]*sql.Stmt{write: {}, read: {}}
	db.wal = mapWALIndex(path)
	for pool, qs := range map[*sql.DB][]string{write: append(writeStatements, rangeStatements...), read: rangeStatements} {
		for _, q := range qs {
			st, err := pool.PrepareContext(ctx, q)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("prepare %q: %w", q, err)
			}
			db.stmts[pool][q] = st
		}
	}
	db.wg.Add(2)
	go db.writer()
	go db.checkpointer()
	return db, nil
}

// The page caches' sizes (KiB): see Open.
const (
	writerCacheKiB       = 16384
	readerCacheKiB       = 8192
	checkpointerCacheKiB = 1024
)

// filePageSize is the page size in a database file's header (pageSize for a new, empty
// file: migrate gives it that size).
func filePageSize(f *os.File) (int, error) {
	var h [18]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return pageSize, nil
		}
		return 0, err
	}
	switch v := int(binary.BigEndian.Uint16(h[16:18])); v {
	case 1:
		return 65536, nil
	case 0:
		return pageSize, nil
	default:
		return v, nil
	}
}

// walCheckpointFrames is the WAL length (in pages) at which the writer checkpoints itself,
// should the checkpointer fall that far behind: 256 MiB of 64 KiB pages.
const walCheckpointFrames = 4096

// checkpointEvery is how often, at most, the checkpointer copies the WAL into the database.
const checkpointEvery = 100 * time.Millisecond

// checkpointer copies committed pages from the WAL into the database file (a PASSIVE
// checkpoint: it waits for nobody and nobody waits for it) shortly after commits. SQLite's
// default is the committing connection checkpointing every 1,000 pages, inside a commit: with
// 64 KiB pages, every 64 MiB written one writer stalled while 64 MiB was copied and synced,
// and every update queued behind it (issue 14: 4 MiB Put Ranges ≈ 1.7× faster without it).
// Durability is SQLite's: a page reaches the database only after its WAL frame was synced,
// and the database is synced before the WAL may be reused.
func (db *DB) checkpointer() {
	defer db.wg.Done()
	for {
		select {
		case <-db.committed:
		case <-db.quit:
			return
		}
		var busy, frames, copied int
		// An error leaves the frames in the WAL, where readers find them; the next round or
		// the writer's safety valve copies them.
		db.ckpt.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		select {
		case <-time.After(checkpointEvery):
		case <-db.quit:
			return
		}
	}
}

// pageSize is the page size of a new database: file content is stored in 1 MiB chunks, and
// 64 KiB pages write and read them with a sixteenth of the system calls of SQLite's default.
const pageSize = 65536

func (db *DB) migrate(ctx context.Context) error {
	var tables int
	if err := db.write.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master`).Scan(&tables); err != nil {
		return fmt.Errorf("inspect database: %w", err)
	}
	if tables == 0 { // a new database: set its page size (possible only before WAL holds pages)
		for _, q := range []string{"PRAGMA journal_mode=DELETE", fmt.Sprintf("PRAGMA page_size=%d", pageSize), "VACUUM", "PRAGMA journal_mode=WAL"} {
			if _, err := db.write.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade cerulean", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("apply migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
			return fmt.Errorf("record migration %d: %w", v, err)
		}
	}
	return tx.Commit()
}

// Close closes the database (after the updates already taken).
func (db *DB) Close() error {
	if !db.closed.Swap(true) {
		close(db.quit)
		db.wg.Wait()
		db.revs.mu.Lock()
		db.wal.close()
		db.revs.mu.Unlock()
	}
	return errors.Join(db.read.Close(), db.ckpt.Close(), db.write.Close())
}

// View implements store.Store.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	return db.run(ctx, db.read, true, fn)
}

// Update implements store.Store: fn runs in a transaction of its own as far as it can tell
// (a savepoint the writer rolls back when fn fails), committed, possibly with other
// updates, before Update returns.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.writes <- req:
	case <-db.quit:
		return store.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.done
}

// writer commits updates in groups: it takes one, then every other already waiting (up to
// maxGroup), runs each in a savepoint of one transaction and commits them with one sync.
// Under load the updates that arrive while a group commits form the next: one fsync serves
// many writers instead of one.
func (db *DB) writer() {
	defer db.wg.Done()
	for {
		var first *writeReq
		select {
		case first = <-db.writes:
		case <-db.quit:
			return
		}
		group := []*writeReq{first}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-db.writes:
				group = append(group, r)
			default:
				break more
			}
		}
		db.commitGroup(group)
	}
}

func (db *DB) commitGroup(group []*writeReq) {
	results := make([]error, len(group))
	finish := func(commitErr error) {
		for i, r := range group {
			if results[i] == nil {
				results[i] = commitErr
			}
			r.done <- results[i]
		}
	}
	// The transaction outlives any one request: a caller giving up must not interrupt it.
	sqlTx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		finish(fmt.Errorf("begin transaction: %w", err))
		return
	}
	ran := 0
	touched := map[string]bool{} // by the updates that succeeded: their revisions move once
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		results[i] = db.runSavepoint(sqlTx, i, r, touched)
		if results[i] == nil {
			ran++
		}
	}
	if ran == 0 {
		sqlTx.Rollback()
		finish(nil)
		return
	}
	if err := db.bumpRevisions(context.Background(), sqlTx, touched); err != nil {
		sqlTx.Rollback()
		finish(err)
		return
	}
	if err := sqlTx.Commit(); err != nil {
		// Nothing of the group was written.
		for i := range results {
			if results[i] == nil {
				results[i] = fmt.Errorf("commit: %w", err)
			}
		}
	} else {
		select {
		case db.committed <- struct{}{}:
		default:
		}
	}
	finish(nil)
}

// runSavepoint runs one update in its own savepoint: its writes stay when it succeeds (and
// the collections it wrote are added to touched) and are undone when it fails (or panics).
func (db *DB) runSavepoint(sqlTx *sql.Tx, i int, r *writeReq, touched map[string]bool) (err error) {
	ctx := context.WithoutCancel(r.ctx)
	// One name serves every update: each savepoint is released before the next is made.
	if _, err := db.exec(ctx, sqlTx, db.write, "SAVEPOINT u"); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: the update panicked: %v", p)
		}
		if err != nil {
			db.exec(ctx, sqlTx, db.write, "ROLLBACK TO u")
		}
		db.exec(ctx, sqlTx, db.write, "RELEASE u")
	}()
	t := &tx{ctx: ctx, tx: sqlTx, touched: map[string]bool{}, get: db.writeGet, db: db, pool: db.write}
	if err := r.fn(t); err != nil {
		return err
	}
	for c := range t.touched {
		touched[c] = true
	}
	return nil
}

const bumpSQL = `INSERT INTO revisions (collection, revision) VALUES (?, 1)
	ON CONFLICT(collection) DO UPDATE SET revision = revision + 1`

func (db *DB) bumpRevisions(ctx context.Context, sqlTx *sql.Tx, touched map[string]bool) error {
	for c := range touched {
		if _, err := db.exec(ctx, sqlTx, db.write, bumpSQL, c); err != nil {
			return fmt.Errorf("bump revision of %s: %w", c, err)
		}
	}
	return nil
}

// writeStatements are prepared on the write connection when the database opens: not later,
// when its one connection may be inside a transaction.
var writeStatements = []string{"SAVEPOINT u", "RELEASE u", "ROLLBACK TO u", bumpSQL, putSQL, createSQL, deleteSQL}

// prepared is q as prepared when the database opened (nil: not prepared).
func (db *DB) prepared(pool *sql.DB, q string) *sql.Stmt {
	db.stmtMu.Lock()
	defer db.stmtMu.Unlock()
	return db.stmts[pool][q]
}

// query runs q (prepared once on pool) in sqlTx.
func (db *DB) query(ctx context.Context, sqlTx *sql.Tx, pool *sql.DB, q string, args ...any) (*sql.Rows, error) {
	if st := db.prepared(pool, q); st != nil {
		return sqlTx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return sqlTx.QueryContext(ctx, q, args...)
}

// exec runs q (prepared once on pool) in sqlTx.
func (db *DB) exec(ctx context.Context, sqlTx *sql.Tx, pool *sql.DB, q string, args ...any) (sql.Result, error) {
	if st := db.prepared(pool, q); st != nil {
		return sqlTx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return sqlTx.ExecContext(ctx, q, args...)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, readOnly bool, fn func(store.Tx) error) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	sqlTx, err := pool.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	get := db.readGet
	if !readOnly {
		get = db.writeGet
	}
	t := &tx{ctx: ctx, tx: sqlTx, readOnly: readOnly, touched: map[string]bool{}, get: get, db: db, pool: pool}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return err
	}
	if readOnly {
		return sqlTx.Rollback()
	}
	if err := db.bumpRevisions(ctx, sqlTx, t.touched); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Revision implements store.Store: from the revisions table, or as last read from it while
// no commit has been made since (walindex.go).
func (db *DB) Revision(ctx context.Context, collections ...string) (int64, error) {
	if db.closed.Load() {
		return 0, store.ErrClosed
	}
	key := strings.Join(collections, "\x00")
	db.revs.mu.Lock()
	hdr, mapped := db.wal.header()
	if c, ok := db.revs.m[key]; mapped && ok && c.hdr == hdr {
		db.revs.mu.Unlock()
		return c.rev, nil
	}
	db.revs.mu.Unlock()
	r, err := db.queryRevision(ctx, collections)
	if err == nil && mapped {
		db.revs.mu.Lock()
		if db.revs.m == nil {
			db.revs.m = map[string]cachedRev{}
		}
		db.revs.m[key] = cachedRev{hdr: hdr, rev: r} // hdr was read before the query
		db.revs.mu.Unlock()
	}
	return r, err
}

func (db *DB) queryRevision(ctx context.Context, collections []string) (int64, error) {
	stmt, err := db.revisionStmt(ctx, len(collections))
	if err != nil {
		return 0, err
	}
	args := make([]any, len(collections))
	for i, c := range collections {
		args[i] = c
	}
	var r int64
	err = stmt.QueryRowContext(ctx, args...).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read revision of %s: %w", strings.Join(collections, ", "), err)
	}
	return r, nil
}

// revisionStmt returns the statement reading the revision of n collections: the revision
// itself for one, the sum for several (revisions only grow, so the sum changes whenever any
// of them does).
func (db *DB) revisionStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	if n == 1 {
		return db.revision, nil
	}
	if n == 0 {
		return nil, errors.New("sqlite: Revision needs at least one collection")
	}
	db.revMu.Lock()
	defer db.revMu.Unlock()
	if st, ok := db.revMulti[n]; ok {
		return st, nil
	}
	q := `SELECT COALESCE(SUM(revision), 0) FROM revisions WHERE collection IN (?` + strings.Repeat(", ?", n-1) + `)`
	st, err := db.read.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	if db.revMulti == nil {
		db.revMulti = map[int]*sql.Stmt{}
	}
	db.revMulti[n] = st
	return st, nil
}

type tx struct {
	ctx      context.Context
	tx       *sql.Tx
	readOnly bool
	touched  map[string]bool
	get      *sql.Stmt
	db       *DB
	pool     *sql.DB // the pool tx came from, where its statements are prepared
}

var errReadOnly = errors.New("store: write in a read-only transaction")

func (t *tx) Get(collection, key string) ([]byte, error) {
	var v []byte
	err := t.tx.StmtContext(t.ctx, t.get).QueryRowContext(t.ctx, collection, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", collection, key, err)
	}
	return v, nil
}

func (t *tx) GetFunc(collection, key string, fn func([]byte) error) error {
	rows, err := t.tx.StmtContext(t.ctx, t.get).QueryContext(t.ctx, collection, key)
	if err != nil {
		return fmt.Errorf("get %s/%s: %w", collection, key, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("get %s/%s: %w", collection, key, err)
		}
		return store.ErrNotFound
	}
	var v sql.RawBytes // the driver's copy of the value, not cloned again by database/sql
	if err := rows.Scan(&v); err != nil {
		return fmt.Errorf("get %s/%s: %w", collection, key, err)
	}
	return fn(v)
}

func (t *tx) Put(collection, key string, value []byte) error {
	if t.readOnly {
		return errReadOnly
	}
	if _, err := t.db.exec(t.ctx, t.tx, t.pool, putSQL, collection, key, value); err != nil {
		return fmt.Errorf("put %s/%s: %w", collection, key, err)
	}
	t.touched[collection] = true
	return nil
}

func (t *tx) Create(collection, key string, value []byte) error {
	if t.readOnly {
		return errReadOnly
	}
	res, err := t.db.exec(t.ctx, t.tx, t.pool, createSQL, collection, key, value)
	if err != nil {
		return fmt.Errorf("create %s/%s: %w", collection, key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrExists
	}
	t.touched[collection] = true
	return nil
}

func (t *tx) Delete(collection, key string) error {
	if t.readOnly {
		return errReadOnly
	}
	res, err := t.db.exec(t.ctx, t.tx, t.pool, deleteSQL, collection, key)
	if err != nil {
		return fmt.Errorf("delete %s/%s: %w", collection, key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	t.touched[collection] = true
	return nil
}

func (t *tx) List(collection, prefix string) ([]store.Item, error) {
	var rows *sql.Rows
	var err error
	if end := prefixEnd(prefix); end == "" {
		rows, err = t.db.query(t.ctx, t.tx, t.pool, listSQL, collection, prefix)
	} else {
		rows, err = t.db.query(t.ctx, t.tx, t.pool, listToSQL, collection, prefix, end)
	}
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", collection, prefix, err)
	}
	defer rows.Close()
	var items []store.Item
	for rows.Next() {
		var it store.Item
		if err := rows.Scan(&it.Key, &it.Value); err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", collection, prefix, err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", collection, prefix, err)
	}
	return items, nil
}

func (t *tx) Keys(collection, from, to string, limit int) ([]string, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	q, args := keysSQL, []any{collection, from, limit}
	if to != "" {
		q, args = keysToSQL, []any{collection, from, to, limit}
	}
	rows, err := t.db.query(t.ctx, t.tx, t.pool, q, args...)
	if err != nil {
		return nil, fmt.Errorf("keys %s/[%s, %s): %w", collection, from, to, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("keys %s/[%s, %s): %w", collection, from, to, err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("keys %s/[%s, %s): %w", collection, from, to, err)
	}
	return keys, nil
}

// prefixEnd returns the smallest string greater than every string starting with prefix, or
// "" when there is none.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

// ReleaseMemory empties every connection's page cache (SQLite's shrink_memory), giving back
// what a burst of reads and writes filled, up to the caches' bounds (see Open); the server
// calls it when it falls idle. Updates and reads wait for it, briefly.
func (db *DB) ReleaseMemory(ctx context.Context) error {
	if db.closed.Load() {
		return store.ErrClosed
	}
	var errs []error
	for _, pool := range []*sql.DB{db.write, db.read, db.ckpt} {
		// Every open connection, each taken at once so that none is taken twice.
		n := pool.Stats().OpenConnections
		var conns []*sql.Conn
		for i := 0; i < n; i++ {
			c, err := pool.Conn(ctx)
			if err != nil {
				errs = append(errs, err)
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			if _, err := c.ExecContext(ctx, "PRAGMA shrink_memory"); err != nil {
				errs = append(errs, err)
			}
			c.Close()
		}
	}
	return errors.Join(errs...)
}
