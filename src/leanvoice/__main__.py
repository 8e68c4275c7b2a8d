from leanvoice.cli import main

main()
