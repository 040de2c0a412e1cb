from loginprobe.cli import main

main()
