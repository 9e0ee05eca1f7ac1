error("file level boom")
