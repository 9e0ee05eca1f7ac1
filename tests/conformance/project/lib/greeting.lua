return { text = "hello from lib" }
