package testsupport

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Get is the body of a GET of url, such as a server's /metrics page,
// whatever the status; an error, or no answer within 10 seconds, fails
// the test.
func Get(t testing.TB, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
