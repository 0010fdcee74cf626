package dynalitetest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cloudchain/cloudchain/internal/dynalitetest"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

// TestHelperNeedsServer is run by TestMissingDynalite in a child process
// (it only runs with CLOUDCHAIN_TEST_HELPER set).
func TestHelperNeedsServer(t *testing.T) {
	if os.Getenv("CLOUDCHAIN_TEST_HELPER") == "" {
		t.Skip("helper for TestMissingDynalite")
	}
	for i := range 5 {
		t.Run(fmt.Sprint(i), func(t *testing.T) { dynalitetest.Start(t) })
	}
}

// TestMissingDynalite runs this test binary with dynalite missing: locally
// the tests are skipped with one loud banner; with CI set they fail.
func TestMissingDynalite(t *testing.T) {
	run := func(ci string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNeedsServer$", "-test.v")
		env := []string{"CLOUDCHAIN_TEST_HELPER=1", dynalitetest.DynaliteEnv + "=" + filepath.Join(t.TempDir(), "no-dynalite")}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, dynalitetest.EndpointEnv+"=") {
				env = append(env, kv)
			}
		}
		if ci != "" {
			env = append(env, "CI="+ci)
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Run("Local", func(t *testing.T) {
		out, err := run("")
		if err != nil {
			t.Fatalf("the run failed: %v\n%s", err, out)
		}
		for _, want := range []string{"will be SKIPPED", "SKIPPED 5 tests that need DynamoDB"} {
			if strings.Count(out, want) != 1 {
				t.Errorf("output says %q %d times, want once:\n%s", want, strings.Count(out, want), out)
			}
		}
		if n := strings.Count(out, "SKIPPING every test"); n != 1 {
			t.Errorf("the full skip reason appears %d times, want once:\n%s", n, out)
		}
	})
	t.Run("CI", func(t *testing.T) {
		out, err := run("true")
		if err == nil || !strings.Contains(out, "--- FAIL") || !strings.Contains(out, "dynalite is not installed") {
			t.Fatalf("with CI set the run must fail: err = %v\n%s", err, out)
		}
	})
}

func TestServerAndCounting(t *testing.T) {
	endpoint := dynalitetest.Start(t)
	if again := dynalitetest.Start(t); again != endpoint {
		t.Fatalf("second Start gave %s, want the shared %s", again, endpoint)
	}
	client, counter := dynalitetest.NewCountingClient(t, endpoint)
	table := dynalitetest.NewTable(t, client)
	if !strings.HasPrefix(table, "cctest-TestServerAndCounting-") {
		t.Errorf("table name %q does not name the test", table)
	}
	counter.Reset()
	ctx := context.Background()
	out, err := client.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range out.TableNames {
		found = found || n == table
	}
	if !found {
		t.Fatalf("ListTables = %q, missing %s", out.TableNames, table)
	}
	if _, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Fatal(err)
	}
	if got := counter.Counts(); got["ListTables"] != 1 || got["DescribeTable"] != 1 || counter.Total() != 2 {
		t.Fatalf("counts = %v, want one ListTables and one DescribeTable", got)
	}
}

func TestTableNamesAreFresh(t *testing.T) {
	a, b := dynalitetest.TableName(t), dynalitetest.TableName(t)
	if a == b {
		t.Fatalf("two calls gave the same name %s", a)
	}
	t.Run("weird/sub test name ü", func(t *testing.T) {
		name := dynalitetest.TableName(t)
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
				t.Fatalf("table name %q has %q, which DynamoDB refuses", name, r)
			}
		}
	})
}
