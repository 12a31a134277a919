package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/portcullis-dev/portcullis/test/pgserver"
)

// PG is the real PostgreSQL server of the suite, with the checks the
// suite makes on it. Each call opens its own connection, so that a server
// stopped and started again needs nothing reset.
type PG struct {
	Server *pgserver.Server

	frozen int // the postmaster's pid while frozen
}

// RoleState is what the server says about a contractor's login role and
// one entitlement role.
type RoleState struct {
	// Exists is false when the login role is missing.
	Exists bool
	// CanLogin is the role's LOGIN attribute.
	CanLogin bool
	// Member is true when the role is a direct member of the entitlement.
	Member bool
}

func (p *PG) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, p.Server.DSN(pgserver.Superuser, pgserver.Password))
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	return conn, nil
}

// CreateRoles creates NOLOGIN group roles and LOGIN contractor roles.
func (p *PG) CreateRoles(ctx context.Context, groups, logins []string) error {
	conn, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	for _, g := range groups {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{g}.Sanitize()+" NOLOGIN"); err != nil {
			return fmt.Errorf("creating role %s: %w", g, err)
		}
	}
	for _, l := range logins {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{l}.Sanitize()+" LOGIN"); err != nil {
			return fmt.Errorf("creating role %s: %w", l, err)
		}
	}
	return nil
}

// States reads the state of each account against entitlement, in one
// connection.
func (p *PG) States(ctx context.Context, entitlement string, accounts []string) (map[string]RoleState, error) {
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	out := make(map[string]RoleState, len(accounts))
	for _, a := range accounts {
		s := RoleState{}
		err := conn.QueryRow(ctx, `
SELECT r.rolcanlogin,
       EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
               WHERE m.member = r.oid AND g.rolname = $2)
FROM pg_roles r WHERE r.rolname = $1`, a, entitlement).Scan(&s.CanLogin, &s.Member)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("reading role %s: %w", a, err)
		default:
			s.Exists = true
		}
		out[a] = s
	}
	return out, nil
}

// Freeze stops the postmaster with SIGSTOP: the server holds every new
// connection unanswered, as a hung database does, instead of refusing it.
// Thaw must follow, or the server cannot be stopped.
func (p *PG) Freeze(ctx context.Context) error {
	pid, err := p.postmaster(ctx)
	if err != nil {
		return err
	}
	p.frozen = pid
	return syscall.Kill(pid, syscall.SIGSTOP)
}

// Thaw resumes a frozen postmaster.
func (p *PG) Thaw() error {
	if p.frozen == 0 {
		return nil
	}
	pid := p.frozen
	p.frozen = 0
	return syscall.Kill(pid, syscall.SIGCONT)
}

// postmaster reads the server's process id from its postmaster.pid.
func (p *PG) postmaster(ctx context.Context) (int, error) {
	conn, err := p.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var dir string
	if err := conn.QueryRow(ctx, `SELECT setting FROM pg_settings WHERE name = 'data_directory'`).Scan(&dir); err != nil {
		return 0, fmt.Errorf("reading the data directory: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("postmaster.pid starts with %q", first)
	}
	return pid, nil
}
