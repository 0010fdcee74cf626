package testproc

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain makes the test binary a tiny server when asked to, so that the
// tests can start real child processes.
func TestMain(m *testing.M) {
	switch os.Getenv("TESTPROC_ROLE") {
	case "serve":
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "healthy") })
		fmt.Println("serving")
		err := http.ListenAndServe("127.0.0.1:"+os.Getenv("TESTPROC_PORT"), nil)
		fmt.Println(err)
		os.Exit(1)
	case "fail":
		fmt.Println("boom: cannot serve")
		os.Exit(3)
	}
	os.Exit(m.Run())
}

func selfSpec(role string, tries int) Spec {
	return Spec{
		Name:  "self",
		Tries: tries,
		Command: func(port int) (*exec.Cmd, error) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "TESTPROC_ROLE="+role, "TESTPROC_PORT="+strconv.Itoa(port))
			return cmd, nil
		},
		Ready: func(endpoint string, exited <-chan struct{}) error {
			return WaitHTTP(endpoint+"/", 10*time.Second, exited, func(status int, body []byte) bool {
				return status == http.StatusOK && string(body) == "healthy"
			})
		},
	}
}

func TestStartAndStop(t *testing.T) {
	p, err := Start(selfSpec("serve", 1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("endpoint %q is not on loopback", p.Endpoint)
	}
	resp, err := http.Get(p.Endpoint + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "healthy" {
		t.Fatalf("the server answered %q", body)
	}
	if !strings.Contains(p.Logs(), "serving") {
		t.Fatalf("Logs = %q, want the server's output", p.Logs())
	}
	p.Stop()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before the server exited")
	}
	if _, err := http.Get(p.Endpoint + "/"); err == nil {
		t.Fatal("the server still answers after Stop")
	}
}

func TestExitDuringStartUp(t *testing.T) {
	_, err := Start(selfSpec("fail", 2))
	if err == nil {
		t.Fatal("Start of a server that exits: no error")
	}
	for _, want := range []string{"starting self failed 2 times", "exited during start-up", "boom: cannot serve"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestSharedServer(t *testing.T) {
	t.Setenv("TESTPROC_ENDPOINT", "")
	s := &Shared{Prefix: "selftest", What: "self", EndpointEnv: "TESTPROC_ENDPOINT", Install: "build it",
		Binary: func() (string, error) { return os.Args[0], nil },
		Spec:   func(string) Spec { return selfSpec("serve", 1) }}
	first := s.Endpoint(t)
	if second := s.Endpoint(t); second != first {
		t.Fatalf("a second Endpoint started another server: %s, then %s", first, second)
	}
	private := s.Private(t)
	if private == first {
		t.Fatal("Private returned the shared server")
	}
	s.Stop()
	if _, err := http.Get(first + "/"); err == nil {
		t.Fatal("the shared server still answers after Stop")
	}
	t.Setenv("TESTPROC_ENDPOINT", "http://127.0.0.1:1")
	if got := s.Endpoint(t); got != "http://127.0.0.1:1" {
		t.Fatalf("with the endpoint variable set, Endpoint = %s", got)
	}
}

func TestSharedSkipsWhenNotInstalled(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("TESTPROC_ENDPOINT", "")
	s := &Shared{Prefix: "selftest", What: "self", EndpointEnv: "TESTPROC_ENDPOINT", Install: "build it",
		Binary: func() (string, error) { return "", errors.New("self is not installed") },
		Spec:   func(string) Spec { t.Fatal("Spec called with no binary"); return Spec{} }}
	for i := range 2 {
		var skipped bool
		t.Run(fmt.Sprint("test", i), func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			s.Endpoint(t)
		})
		if !skipped {
			t.Fatalf("test %d was not skipped", i)
		}
	}
	if s.skipped != 2 {
		t.Fatalf("skipped = %d, want 2", s.skipped)
	}
}
