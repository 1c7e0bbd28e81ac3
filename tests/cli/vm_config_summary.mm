vm config
