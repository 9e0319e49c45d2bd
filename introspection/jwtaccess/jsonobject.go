package jwtaccess

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// frame is an open JSON container in checkObject.
type frame struct {
	keys map[string]struct{} // lowercased keys seen; nil for arrays
}

// checkObject reports an error unless data is exactly one JSON object in
// which no object, at any depth up to maxDepth, has two keys equal but for
// case (after unescaping): JSON parsers disagree on which copy of a
// repeated key wins, and Go's struct decoding matches keys
// case-insensitively, so no single reading of such a document is safe.
// onTop, when set, sees each key of the outer object and may refuse it.
//
// json.Valid checks the syntax first; the scan after it relies on that,
// and only follows strings and brackets.
func checkObject(data []byte, onTop func(string) error) error {
	if !json.Valid(data) {
		return errors.New("not valid JSON")
	}
	i := len(data) - len(bytes.TrimLeft(data, " \t\r\n"))
	if data[i] != '{' {
		return errors.New("not a JSON object")
	}
	var stack []frame
	wantKey := false
	for ; i < len(data); i++ {
		switch data[i] {
		case '{', '[':
			if len(stack) == maxDepth {
				return fmt.Errorf("JSON nested deeper than %d", maxDepth)
			}
			f := frame{}
			if data[i] == '{' {
				f.keys = map[string]struct{}{}
			}
			stack = append(stack, f)
			wantKey = f.keys != nil
		case '}', ']':
			stack = stack[:len(stack)-1]
			wantKey = false
		case ',':
			wantKey = stack[len(stack)-1].keys != nil
		case '"':
			end := stringEnd(data, i)
			if wantKey {
				if err := addKey(stack, data[i:end+1], onTop); err != nil {
					return err
				}
				wantKey = false
			}
			i = end
		}
	}
	return nil
}

// stringEnd is the index of the quote closing the JSON string that opens
// at data[start].
func stringEnd(data []byte, start int) int {
	for j := start + 1; ; j++ {
		switch data[j] {
		case '\\':
			j++ // the escaped character, whatever it is
		case '"':
			return j
		}
	}
}

// addKey records quoted, a key of the innermost object of stack, refusing
// a repeat.
func addKey(stack []frame, quoted []byte, onTop func(string) error) error {
	key := string(quoted[1 : len(quoted)-1])
	if bytes.IndexByte(quoted, '\\') >= 0 {
		if err := json.Unmarshal(quoted, &key); err != nil {
			return errors.New("not valid JSON")
		}
	}
	top := stack[len(stack)-1].keys
	lower := strings.ToLower(key)
	if _, dup := top[lower]; dup {
		return errors.New("a key appears twice in one object")
	}
	top[lower] = struct{}{}
	if len(stack) == 1 && onTop != nil {
		return onTop(key)
	}
	return nil
}
