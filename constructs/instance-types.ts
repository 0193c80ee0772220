/**
 * Graviton (arm64) EC2 types: the family carries a 'g' right after the generation digit (c7g, m6gd, c6gn, im4gn,
 * g5g, hpc7g); a1 is the first Graviton. Constructs pick the arm64 AMI for them.
 */
export function isGravitonInstanceType(instanceType: string): boolean {
  return /^(a1|[a-z]+\d+g[a-z]*)\./.test(instanceType);
}
