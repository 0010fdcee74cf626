package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/bolt"
)

// Testscript commands that copy items of the embedded store out and put
// them back, as an attacker with read access now and write access later
// can: a rollback.
func init() {
	localCmds["saveitem"] = saveItemCmd
	localCmds["restoreitem"] = restoreItemCmd
	localCmds["removeitem"] = removeItemCmd
}

// removeitem SERVICE USER removes the stored item of (SERVICE, USER) (USER
// may be MANIFEST or KEYRING), as anyone with write access to the file can.
func removeItemCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: removeitem SERVICE USER")
	}
	b := openTestBolt(ts)
	it, err := b.Load(context.Background(), args[0], reservedName(args[1]))
	ts.Check(err)
	ts.Check(b.Remove(context.Background(), it))
}

// reservedName lets a script name the reserved items.
func reservedName(user string) string {
	switch user {
	case "MANIFEST":
		return cloudchain.ManifestUser
	case "KEYRING":
		return cloudchain.ServiceKeyUser
	}
	return user
}

type savedItem struct {
	Service, User string
	Records       [][]byte
}

func openTestBolt(ts *testscript.TestScript) *bolt.Backend {
	b, err := bolt.Open(filepath.Join(ts.Getenv("HOME"), ".local/share/cloudchain/secrets.db"))
	ts.Check(err)
	return b
}

// saveitem SERVICE USER FILE copies the stored item of (SERVICE, USER) into
// FILE (USER may be MANIFEST or KEYRING).
func saveItemCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: saveitem SERVICE USER FILE")
	}
	b := openTestBolt(ts)
	it, err := b.Load(context.Background(), args[0], reservedName(args[1]))
	ts.Check(err)
	s := savedItem{Service: it.Service, User: it.User}
	for _, r := range it.Records {
		data, err := r.MarshalBinary()
		ts.Check(err)
		s.Records = append(s.Records, data)
	}
	data, err := json.Marshal(s)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), data, 0o600))
}

// restoreitem FILE puts an item saved by saveitem back over whatever is
// stored for its key.
func restoreItemCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: restoreitem FILE")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var s savedItem
	ts.Check(json.Unmarshal(data, &s))
	it := &cloudchain.Item{Service: s.Service, User: s.User}
	for _, d := range s.Records {
		r, err := cloudchain.UnmarshalRecord(d)
		ts.Check(err)
		it.Records = append(it.Records, r)
	}
	ctx := context.Background()
	b := openTestBolt(ts)
	prev, err := b.Load(ctx, s.Service, s.User)
	if errors.Is(err, cloudchain.ErrNotFound) {
		prev, err = nil, nil
	}
	ts.Check(err)
	_, err = b.Save(ctx, prev, it)
	ts.Check(err)
}
