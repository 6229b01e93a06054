module github.com/dirsync-go/dirsync

go 1.26.0
