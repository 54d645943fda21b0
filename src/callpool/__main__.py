from callpool.cli import main

main()
